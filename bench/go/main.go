// SPDX-License-Identifier: MIT

// patlab-go - Go's own channels in patlab's harness: the chan, pingpong, worker_pool,
// fanout_fanin and pipeline workloads written with goroutines and Go channels, measured the
// way the C workloads are (see common.go), for `patlab sweep --chan ...,go`.
//
// The C driver (bench/gorun.c) owns the CSV: it runs this program once per point and
// repetition with the point's parameters on the command line and reads back one result block
// (below), which it turns into a row of the same schema as every C row, chan_kind "go". A
// process per point keeps points independent (a fresh heap and scheduler, GOMAXPROCS set
// before any goroutine starts); the process start is outside the measured window because the
// gate, the warm-up and the window all happen in here, after main() began.
//
// Usage:
//   patlab-go run -pattern chan -producers 1 -consumers 1 -depth 64 -seconds 0.4 ...
//   patlab-go patterns          the workloads this program implements, one per line
//   patlab-go hist [-q LIST]    latency samples (ns, one per line) on stdin -> the histogram's
//                               summary and percentiles (the equivalence test with C's)
//   patlab-go version
//
// Result block of `run` (one line each, "key value"; the C side parses it):
//   patlab-go 1                 protocol version
//   status ok|skip|fail
//   why TEXT                    skip and fail only
//   messages N / seconds S / lost N / dropped N / rejected N
//   gomaxprocs N                the value in effect
//   start_ns N                  exec (-t0, the driver's clock) -> main(); 0 without -t0
//   lat_count N / lat_sum S / lat_min N / lat_max N
//   lat_buckets i:c,i:c,...     the non-empty buckets of the merged histogram, or -
//   extra NAME VALUE            pattern-specific figures, in order
//   end
// Exit: 0 (ok or skip), 1 (fail: the block says why), 2 (usage).

package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

const protocol = 1

var workloads = []struct {
	name string
	run  func(p *params, r *result) error
}{
	{"chan", runChan},
	{"pingpong", runPingpong},
	{"worker_pool", runWorkerPool},
	{"fanout_fanin", runFanout},
	{"pipeline", runPipeline},
}

var out = bufio.NewWriter(os.Stdout)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: patlab-go run [flags] | patterns | hist [-q LIST] | version"+
		"\n('patlab-go run -h' for the flags; normally run by 'patlab sweep --chan go')")
	os.Exit(2)
}

func main() {
	startNs := nanotime()
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "run":
		cmdRun(os.Args[2:], startNs)
	case "patterns":
		for _, w := range workloads {
			fmt.Fprintln(out, w.name)
		}
	case "hist":
		cmdHist(os.Args[2:])
	case "version":
		fmt.Fprintf(out, "patlab-go protocol %d %s\n", protocol, runtime.Version())
	case "-h", "--help", "help":
		fmt.Fprintln(out, "usage: patlab-go run [flags] | patterns | hist [-q LIST] | version")
	default:
		usage()
	}
	out.Flush()
}

func cmdRun(args []string, startNs int64) {
	var p params
	var depth string
	var t0 int64
	var runs int
	var human bool
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	fs.StringVar(&p.pattern, "pattern", "chan", "workload: "+names())
	fs.IntVar(&p.producers, "producers", 1, "producer goroutines")
	fs.IntVar(&p.consumers, "consumers", 1, "consumer goroutines, workers or backends")
	fs.IntVar(&p.stages, "stages", 1, "pipeline stages")
	fs.StringVar(&depth, "depth", "64", "channel capacity: 0 (unbuffered), N, or unbounded")
	fs.Int64Var(&p.workNs, "work-ns", 0, "work per message, ns")
	fs.Float64Var(&p.rate, "rate", 0, "open loop: messages/s over all producers (0: closed loop)")
	fs.StringVar(&p.policy, "policy", "-", "pattern policy")
	fs.Int64Var(&p.timeoutNs, "timeout-ns", 0, "the pattern's time limit (hedge delay), ns")
	fs.Uint64Var(&p.messages, "messages", 0, "measure exactly N messages (0: -seconds)")
	fs.Float64Var(&p.seconds, "seconds", 1, "measured seconds")
	fs.Float64Var(&p.warmup, "warmup", 0.1, "warm-up seconds, not counted")
	fs.Uint64Var(&p.seed, "seed", 1, "seed for patterns that draw random numbers")
	fs.BoolVar(&p.latency, "latency", true, "time messages (chan, pingpong: sampled, see -lat-sample)")
	fs.Uint64Var(&p.latSample, "lat-sample", 0, "chan, pingpong: time one message in N (1: every one; 0: auto, ~2x10^5 samples)")
	fs.IntVar(&p.gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS (0: Go's default, the CPU count)")
	fs.Int64Var(&t0, "t0", 0, "the driver's CLOCK_MONOTONIC ns just before exec")
	fs.IntVar(&runs, "runs", 1, "run the point this many times in this process")
	fs.BoolVar(&human, "human", false, "one line per run for people instead of the result block")
	fs.Parse(args)
	if fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "patlab-go: unexpected argument %q\n", fs.Arg(0))
		os.Exit(2)
	}
	switch depth {
	case "unbounded", "inf":
		p.depth = -1
	default:
		d, err := strconv.Atoi(depth)
		if err != nil || d < 0 {
			fmt.Fprintf(os.Stderr, "patlab-go: bad -depth %q\n", depth)
			os.Exit(2)
		}
		p.depth = d
	}
	if p.producers < 1 || p.consumers < 1 || p.stages < 1 || p.workNs < 0 || p.rate < 0 ||
		p.timeoutNs < 0 || p.warmup < 0 || (p.messages == 0 && !(p.seconds > 0)) || runs < 1 {
		fmt.Fprintln(os.Stderr, "patlab-go: counts must be >= 1, times and rates >= 0")
		os.Exit(2)
	}
	if p.gomaxprocs > 0 {
		runtime.GOMAXPROCS(p.gomaxprocs) // before any workload goroutine exists
	}
	var run func(p *params, r *result) error
	for _, w := range workloads {
		if w.name == p.pattern {
			run = w.run
		}
	}
	var start int64
	if t0 > 0 {
		start = startNs - t0
	}
	if run == nil {
		report(&p, nil, skipf("go: patlab-go does not implement the "+p.pattern+" pattern"),
			start, human)
		return
	}
	for i := 0; i < runs; i++ {
		var r result
		err := run(&p, &r)
		report(&p, &r, err, start, human)
		if err != nil {
			return
		}
		out.Flush()
	}
}

// fatalPoint reports a failure found by a watchdog and ends the process (one point each).
func fatalPoint(err error) {
	report(nil, nil, err, 0, false)
	out.Flush()
	os.Exit(1)
}

func report(p *params, r *result, err error, startNs int64, human bool) {
	status, why := "ok", ""
	if err != nil {
		status, why = "fail", err.Error()
		if pe, ok := err.(*pointError); ok && pe.skip {
			status = "skip"
		}
	}
	if human {
		if err != nil {
			fmt.Fprintf(out, "%s: %s\n", status, why)
		} else {
			s := r.hist.Summarize()
			fmt.Fprintf(out, "%s go gomaxprocs %d: %.3f M msg/s (%d in %.3f s); p50 %d p90 %d "+
				"p99 %d p99.9 %d max %d ns; lost %d; start %.2f ms;",
				p.pattern, runtime.GOMAXPROCS(0), float64(r.messages)/r.seconds/1e6, r.messages,
				r.seconds, s.P50, s.P90, s.P99, s.P999, s.Max, r.lost, float64(startNs)/1e6)
			for _, e := range r.extras {
				fmt.Fprintf(out, " %s=%.6g", e.name, e.value)
			}
			fmt.Fprintln(out)
		}
		if status == "fail" {
			out.Flush()
			os.Exit(1)
		}
		return
	}
	fmt.Fprintf(out, "patlab-go %d\nstatus %s\n", protocol, status)
	if err != nil {
		fmt.Fprintf(out, "why %s\nend\n", strings.ReplaceAll(why, "\n", " "))
		if status == "fail" {
			out.Flush()
			os.Exit(1)
		}
		return
	}
	h := &r.hist
	fmt.Fprintf(out, "messages %d\nseconds %.9f\nlost %d\ndropped %d\nrejected %d\n",
		r.messages, r.seconds, r.lost, r.dropped, r.rejected)
	fmt.Fprintf(out, "gomaxprocs %d\nstart_ns %d\n", runtime.GOMAXPROCS(0), startNs)
	fmt.Fprintf(out, "lat_count %d\nlat_sum %s\nlat_min %d\nlat_max %d\nlat_buckets ",
		h.Count, strconv.FormatFloat(h.Sum, 'g', -1, 64), h.Min, h.Max)
	sep := ""
	for i, c := range h.Bucket {
		if c != 0 {
			fmt.Fprintf(out, "%s%d:%d", sep, i, c)
			sep = ","
		}
	}
	if sep == "" {
		fmt.Fprint(out, "-")
	}
	fmt.Fprintln(out)
	for _, e := range r.extras {
		fmt.Fprintf(out, "extra %s %s\n", e.name, strconv.FormatFloat(e.value, 'g', -1, 64))
	}
	fmt.Fprintln(out, "end")
}

func names() string {
	var n []string
	for _, w := range workloads {
		n = append(n, w.name)
	}
	return strings.Join(n, ", ")
}

// cmdHist: samples on stdin, one integer (ns) per line -> "count", "min", "max", "mean" and
// "p<q> <value>" for each quantile, plus the bucket index of every distinct sample when -index.
func cmdHist(args []string) {
	fs := flag.NewFlagSet("hist", flag.ExitOnError)
	qs := fs.String("q", "50,90,99,99.9", "comma-separated percentiles")
	fs.Parse(args)
	var h Hist
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		v, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "patlab-go hist: bad sample %q\n", line)
			os.Exit(2)
		}
		h.Record(v)
	}
	s := h.Summarize()
	fmt.Fprintf(out, "count %d\nmin %d\nmax %d\nmean %s\np50 %d\np90 %d\np99 %d\np999 %d\n",
		s.Count, s.Min, s.Max, strconv.FormatFloat(s.Mean, 'g', 17, 64), s.P50, s.P90, s.P99,
		s.P999)
	for _, q := range strings.Split(*qs, ",") {
		f, err := strconv.ParseFloat(q, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "patlab-go hist: bad percentile %q\n", q)
			os.Exit(2)
		}
		fmt.Fprintf(out, "q %s %d\n", q, h.Percentile(f))
	}
}

// onlineFromSys counts the CPUs in /sys/devices/system/cpu/online ("0-1,4"), as glibc's
// sysconf(_SC_NPROCESSORS_ONLN) does; 0 when it cannot be read.
func onlineFromSys() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 0
	}
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, found := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if found {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || z < a {
			return 0
		}
		n += z - a + 1
	}
	return n
}
