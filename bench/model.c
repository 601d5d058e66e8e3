/* SPDX-License-Identifier: MIT */
/*
 * The run, the row and the column table (model.h), and the small helpers every part of
 * bench/ shares: human formats, the atomic file write, a growing string.
 *
 * The column table is the schema: csv.c writes and reads through pb_column_format() and
 * pb_column_parse(), so a value is spelled one way on the way out and accepted only in that
 * spelling on the way in (numbers in full, no trailing characters, text without separators).
 */
#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- runs and rows */

void *pb_xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL) {
		fputs("patlab: out of memory\n", stderr);
		abort();
	}
	return p;
}

struct pb_row *pb_run_add_row(struct pb_run *run)
{
	if (run->n_rows == run->cap_rows) {
		run->cap_rows = run->cap_rows ? 2 * run->cap_rows : 64;
		run->rows = pb_xrealloc(run->rows, run->cap_rows * sizeof(*run->rows));
	}
	memset(&run->rows[run->n_rows], 0, sizeof(run->rows[0]));
	return &run->rows[run->n_rows++];
}

void pb_run_note(struct pb_note **list, size_t *n, const char *point, const char *why)
{
	*list = pb_xrealloc(*list, (*n + 1) * sizeof(**list));
	snprintf((*list)[*n].point, sizeof((*list)[*n].point), "%s", point);
	snprintf((*list)[*n].why, sizeof((*list)[*n].why), "%s", why);
	(*n)++;
}

void pb_run_free(struct pb_run *run)
{
	free(run->rows);
	free(run->skipped);
	free(run->failed);
	run->rows = NULL;
	run->skipped = run->failed = NULL;
}

size_t pb_run_lost_rows(const struct pb_run *run)
{
	size_t lost = 0;

	for (size_t i = 0; i < run->n_rows; i++)
		lost += run->rows[i].lost != 0;
	return lost;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

bool pb_row_add_extra(struct pb_row *w, const char *name, double value)
{
	struct pb_extra *e;

	if (w->n_extras == PB_ROW_EXTRAS)
		return false;
	e = &w->extras[w->n_extras++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	for (char *c = e->name; *c != '\0'; c++)
		if (!name_char(*c))
			*c = '_';
	e->value = value;
	return true;
}

bool pb_row_extra(const struct pb_row *w, const char *name, double *v)
{
	for (unsigned i = 0; i < w->n_extras; i++)
		if (strcmp(w->extras[i].name, name) == 0) {
			*v = w->extras[i].value;
			return true;
		}
	return false;
}

/* ---------------------------------------------------------------- the column table */

/*
 * COL - one column: name, type, unit, in the key, parameter bit, where, format, absent, doc;
 * its values are >= 0. COL1: a count that is never 0 (>= 1).
 */
#define COL(n, t, u, k, p, where, f, a, d)                                                         \
	{                                                                                          \
		.name = n, .type = t, .unit = u, .in_key = k, .param = p, where, .fmt = f,         \
		.absent = a, .doc = d, .min = 0                                                    \
	}
#define COL1(n, t, u, k, p, where, f, a, d)                                                        \
	{                                                                                          \
		.name = n, .type = t, .unit = u, .in_key = k, .param = p, where, .fmt = f,         \
		.absent = a, .doc = d, .min = 1                                                    \
	}
#define ROW(field)                                                                                 \
	.src = PB_SRC_ROW, .offset = offsetof(struct pb_row, field),                               \
	.size = sizeof(((struct pb_row *)0)->field)
#define SYS(field)                                                                                 \
	.src = PB_SRC_SYS, .offset = offsetof(struct pb_sysinfo, field),                           \
	.size = sizeof(((struct pb_sysinfo *)0)->field)
#define TEXT  PB_COL_TEXT
#define UINT  PB_COL_UINT
#define U64   PB_COL_U64
#define I64   PB_COL_I64
#define REAL  PB_COL_REAL
#define DEPTH PB_COL_DEPTH

/* The first 28 columns are DESIGN.md's schema, in its order; then patlab's additions. */
const struct pb_column pb_columns[] = {
    COL("run_id", TEXT, "text", false, 0, SYS(run_id), NULL, NULL, "the sweep of the row"),
    COL("timestamp_utc", TEXT, "ISO 8601, ms", false, 0, ROW(timestamp), NULL, NULL,
	"when the run finished"),
    COL("git_rev", TEXT, NULL, false, 0, SYS(git_rev), NULL, NULL, "the source tree's HEAD"),
    COL("host", TEXT, "text", false, 0, SYS(host), NULL, NULL, "gethostname()"),
    COL("cpu_model", TEXT, "text", false, 0, SYS(cpu_model), NULL, NULL, "the CPU's model name"),
    COL1("cpus", UINT, "count", false, 0, SYS(cpus), NULL, NULL, "online CPUs"),
    COL("compiler", TEXT, "text", false, 0, SYS(compiler), NULL, NULL, "compiler and version"),
    COL("pattern", TEXT, "name", true, 0, ROW(pattern), NULL, NULL, "the pattern or workload"),
    COL("chan_kind", TEXT, "name", true, PL_PARAM_CHAN_KIND, ROW(kind), NULL, NULL,
	"the channel kind; - without channels"),
    COL1("producers", UINT, "threads", true, PL_PARAM_PRODUCERS, ROW(producers), NULL, NULL,
	 "producing threads"),
    COL1("consumers", UINT, "threads", true, PL_PARAM_CONSUMERS, ROW(consumers), NULL, NULL,
	 "consuming threads or workers"),
    COL1("stages", UINT, "count", true, PL_PARAM_STAGES, ROW(stages), NULL, NULL,
	 "pipeline stages"),
    COL("queue_depth", DEPTH, "messages", true, PL_PARAM_QUEUE_DEPTH, ROW(depth), NULL, NULL,
	"channel capacity"),
    COL("work_ns", I64, "ns", true, PL_PARAM_WORK_NS, ROW(work_ns), NULL, NULL,
	"busy work per message"),
    COL("rate_target", REAL, "messages/s", true, PL_PARAM_RATE, ROW(rate), "%.6g", NULL,
	"open-loop send rate; 0 = closed loop"),
    COL("policy", TEXT, "name", true, PL_PARAM_POLICY, ROW(policy), NULL, NULL,
	"pattern-specific policy; - for none"),
    COL1("rep", UINT, "1..", false, 0, ROW(rep), NULL, NULL, "repetition of the point"),
    COL("messages", U64, "count", false, 0, ROW(messages), NULL, NULL,
	"messages completed in the window"),
    COL("seconds", REAL, "s", false, 0, ROW(seconds), "%.6f", NULL, "the measured window"),
    COL("throughput_mps", REAL, "messages/s", false, 0, ROW(tput), "%.1f", NULL,
	"messages / seconds"),
    COL("lat_p50_ns", I64, "ns", false, 0, ROW(lat.p50), NULL, NULL, "median latency"),
    COL("lat_p90_ns", I64, "ns", false, 0, ROW(lat.p90), NULL, NULL, "90th percentile"),
    COL("lat_p99_ns", I64, "ns", false, 0, ROW(lat.p99), NULL, NULL, "99th percentile"),
    COL("lat_p999_ns", I64, "ns", false, 0, ROW(lat.p999), NULL, NULL, "99.9th percentile"),
    COL("lat_max_ns", I64, "ns", false, 0, ROW(lat.max), NULL, NULL, "largest latency"),
    COL("dropped", U64, "count", false, 0, ROW(dropped), NULL, NULL, "dropped by a policy"),
    COL("rejected", U64, "count", false, 0, ROW(rejected), NULL, NULL, "refused at the door"),
    COL("lost", U64, "count", false, 0, ROW(lost), NULL, NULL, "never delivered: must be 0"),
    COL("spin_ns", I64, "ns", true, PL_PARAM_SPIN, ROW(spin_ns), NULL, NULL,
	"spin budget before parking (default resolved)"),
    COL("build_type", TEXT, "text", false, 0, SYS(build_type), NULL, NULL,
	"the build; sanitized builds say so"),
    COL("warmup_s", REAL, "s", false, 0, ROW(warmup_s), "%.6g", NULL, "warm-up before the window"),
    COL("lat_mean_ns", REAL, "ns", false, 0, ROW(lat.mean), "%.1f", NULL, "mean latency"),
    COL("seed", U64, "integer", false, 0, ROW(seed), NULL, NULL, "seed of random draws"),
    COL("timeout_ns", I64, "ns", true, PL_PARAM_TIMEOUT, ROW(timeout_ns), NULL, "0",
	"the pattern's time limit; 0 = its default"),
    /* Files from before the column: every thread was placed by the OS. */
    COL("pin", TEXT, NULL, true, 0, ROW(pin), NULL, "none", "thread placement"),
    COL("extras", PB_COL_EXTRAS, NULL, false, 0, ROW(extras), NULL, NULL,
	"pattern-specific figures"),
};

const size_t pb_n_columns = sizeof(pb_columns) / sizeof(pb_columns[0]);

#undef COL
#undef COL1
#undef ROW
#undef SYS
#undef TEXT
#undef UINT
#undef U64
#undef I64
#undef REAL
#undef DEPTH

int pb_column_find(const char *name)
{
	for (size_t c = 0; c < pb_n_columns; c++)
		if (strcmp(pb_columns[c].name, name) == 0)
			return (int)c;
	return -1;
}

/* field_of - where column @col's value lives; NULL for a machine column without @sys. */
static const void *field_of(const struct pb_column *col, const struct pb_sysinfo *sys,
			    const struct pb_row *w)
{
	if (col->src == PB_SRC_SYS)
		return sys != NULL ? (const char *)sys + col->offset : NULL;
	return (const char *)w + col->offset;
}

int pb_extras_format(const struct pb_row *w, char *buf, size_t n)
{
	size_t len = 0;

	if (w->n_extras == 0)
		return snprintf(buf, n, "-");
	buf[0] = '\0';
	for (unsigned i = 0; i < w->n_extras && len < n; i++)
		len += (size_t)snprintf(buf + len, n - len, "%s%s=%.6g", i ? ";" : "",
					w->extras[i].name, w->extras[i].value);
	return (int)len;
}

int pb_column_format(size_t c, const struct pb_sysinfo *sys, const struct pb_row *w, char *buf,
		     size_t n)
{
	const struct pb_column *col = &pb_columns[c];
	const void *f = field_of(col, sys, w);
	int len = -1;

	if (f == NULL)
		return -1;
	switch (col->type) {
	case PB_COL_TEXT:
		len = snprintf(buf, n, "%s", (const char *)f);
		break;
	case PB_COL_UINT:
		len = snprintf(buf, n, "%u", *(const unsigned *)f);
		break;
	case PB_COL_U64:
		len = snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)f);
		break;
	case PB_COL_I64:
		len = snprintf(buf, n, "%lld", (long long)*(const int64_t *)f);
		break;
	case PB_COL_REAL:
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		len = snprintf(buf, n, col->fmt, *(const double *)f);
#pragma GCC diagnostic pop
		break;
	case PB_COL_DEPTH:
		if (*(const uint64_t *)f == PB_DEPTH_UNBOUNDED)
			len = snprintf(buf, n, "unbounded");
		else
			len = snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)f);
		break;
	case PB_COL_EXTRAS:
		len = pb_extras_format(w, buf, n);
		break;
	}
	return len < 0 || (size_t)len >= n ? -1 : len;
}

bool pb_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool pb_decimal(const char *s)
{
	s += *s == '-';
	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9')
		s++;
	if (*s == '.') {
		if (*++s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		s += *s == '-' || *s == '+';
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

bool pb_parse_real(const char *s, double min, double *out)
{
	double v;

	if (!pb_decimal(s))
		return false;
	errno = 0;
	v = strtod(s, NULL);
	if (errno == ERANGE || !isfinite(v) || v < min)
		return false;
	*out = v;
	return true;
}

/* parse_extra_value - an extra's value: a decimal, or nan/inf as printf writes them. */
static bool parse_extra_value(const char *s, double *out)
{
	const char *t = s + (*s == '-');

	if (strcmp(t, "nan") == 0 || strcmp(t, "inf") == 0) {
		*out = strtod(s, NULL);
		return true;
	}
	if (!pb_decimal(s))
		return false;
	errno = 0;
	*out = strtod(s, NULL);
	return errno != ERANGE || fabs(*out) < 1; /* underflow to ~0 is still the value */
}

/* parse_extras - "-" or name=value;... into @w (replacing what it had). */
static int parse_extras(const char *s, struct pb_row *w, char *why, size_t n)
{
	char buf[1024], *save = NULL, *item;

	w->n_extras = 0;
	if (strcmp(s, "-") == 0)
		return 0;
	if (strlen(s) >= sizeof(buf))
		return pb_einval(why, n, "longer than %zu characters", sizeof(buf) - 1);
	if (s[0] == ';' || s[strlen(s) - 1] == ';' || strstr(s, ";;") != NULL)
		return pb_einval(why, n,
				 "'%s' has an empty item (valid: name=value;name=value, or -)", s);
	snprintf(buf, sizeof(buf), "%s", s);
	for (item = strtok_r(buf, ";", &save); item != NULL; item = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(item, '=');
		size_t len = eq != NULL ? (size_t)(eq - item) : 0;
		double v;

		if (eq == NULL || len == 0 || len >= sizeof(w->extras[0].name))
			return pb_einval(why, n,
					 "'%s' is not name=value (name: 1 to %zu of [a-z0-9_])",
					 item, sizeof(w->extras[0].name) - 1);
		for (size_t i = 0; i < len; i++)
			if (!name_char(item[i]))
				return pb_einval(why, n, "'%.*s' is not a name of [a-z0-9_]",
						 (int)len, item);
		if (!parse_extra_value(eq + 1, &v))
			return pb_einval(why, n, "'%s': '%s' is not a number", item, eq + 1);
		*eq = '\0';
		if (!pb_row_add_extra(w, item, v))
			return pb_einval(why, n, "more than %d extras", PB_ROW_EXTRAS);
	}
	return 0;
}

int pb_column_parse(size_t c, const char *text, struct pb_sysinfo *sys, struct pb_row *w, char *why,
		    size_t n)
{
	const struct pb_column *col = &pb_columns[c];
	void *f = (void *)field_of(col, sys, w);
	uint64_t u;

	if (f == NULL)
		return pb_einval(why, n, "a machine column, and no machine to store it in");
	if (text[0] == '\0')
		return pb_einval(why, n, "empty (every field has a value; '-' for none)");
	switch (col->type) {
	case PB_COL_TEXT:
		if (strlen(text) >= col->size)
			return pb_einval(why, n, "longer than %zu characters", col->size - 1);
		if (strpbrk(text, "\";,\r\n\t") != NULL)
			return pb_einval(why, n,
					 "'%s' holds a quote, semicolon, comma, tab or line break",
					 text);
		memcpy(f, text, strlen(text) + 1);
		return 0;
	case PB_COL_UINT:
		if (!pb_parse_u64(text, (uint64_t)col->min, UINT_MAX, &u))
			return pb_einval(why, n, "'%s' is not an integer from %.0f to %u", text,
					 col->min, UINT_MAX);
		*(unsigned *)f = (unsigned)u;
		return 0;
	case PB_COL_U64:
		if (!pb_parse_u64(text, (uint64_t)col->min, UINT64_MAX, &u))
			return pb_einval(why, n, "'%s' is not an integer >= %.0f", text, col->min);
		*(uint64_t *)f = u;
		return 0;
	case PB_COL_I64:
		if (!pb_parse_u64(text, (uint64_t)col->min, INT64_MAX, &u))
			return pb_einval(why, n,
					 "'%s' is not an integer >= %.0f (at most 2^63 - 1)", text,
					 col->min);
		*(int64_t *)f = (int64_t)u;
		return 0;
	case PB_COL_REAL:
		if (!pb_parse_real(text, col->min, (double *)f))
			return pb_einval(why, n, "'%s' is not a finite number >= %g", text,
					 col->min);
		return 0;
	case PB_COL_DEPTH:
		if (strcmp(text, "unbounded") == 0)
			u = PB_DEPTH_UNBOUNDED;
		else if (!pb_parse_u64(text, 0, UINT64_MAX - 1, &u))
			return pb_einval(why, n, "'%s' is neither an integer >= 0 nor 'unbounded'",
					 text);
		*(uint64_t *)f = u;
		return 0;
	case PB_COL_EXTRAS:
		return parse_extras(text, w, why, n);
	}
	return pb_einval(why, n, "unknown column type");
}

double pb_column_value(size_t c, const struct pb_row *w)
{
	const struct pb_column *col = &pb_columns[c];
	const void *f = (const char *)w + col->offset;

	if (col->src != PB_SRC_ROW)
		return NAN;
	switch (col->type) {
	case PB_COL_UINT:
		return *(const unsigned *)f;
	case PB_COL_U64:
	case PB_COL_DEPTH:
		return (double)*(const uint64_t *)f;
	case PB_COL_I64:
		return (double)*(const int64_t *)f;
	case PB_COL_REAL:
		return *(const double *)f;
	default:
		return NAN;
	}
}

void pb_row_key(const struct pb_row *w, bool kind, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t c = 0; c < pb_n_columns && len < n; c++) {
		int k;

		if (!pb_columns[c].in_key || (!kind && pb_columns[c].param == PL_PARAM_CHAN_KIND))
			continue;
		if (len > 0)
			buf[len++] = '|';
		k = pb_column_format(c, NULL, w, buf + len, n - len);
		if (k < 0)
			break;
		len += (size_t)k;
	}
	buf[len < n ? len : n - 1] = '\0';
}

/* ---------------------------------------------------------------- labels */

void pb_row_label(const struct pb_row *w, enum pb_label_style style, char *b, size_t n)
{
	const struct pl_pattern *pat = pl_pattern_find(w->pattern);
	const unsigned used = pat ? pat->params : ~0u;
	const bool cfg = style == PB_LABEL_CONFIG;
	size_t len = 0;

#define ADD(...)                                                                                   \
	do {                                                                                       \
		if (len < n)                                                                       \
			len += (size_t)snprintf(b + len, n - len, __VA_ARGS__);                    \
	} while (0)
	b[0] = '\0';
	/* Config: " "-separated after the pattern; scenario: each item ends with a space. */
	if (cfg) {
		ADD("%s", w->pattern);
		if ((used & PL_PARAM_CHAN_KIND) && strcmp(w->kind, "-") != 0)
			ADD(" %s", w->kind);
	}
	if (used & (PL_PARAM_PRODUCERS | PL_PARAM_CONSUMERS))
		ADD(cfg ? " %up%uc" : "%up%uc ", w->producers, w->consumers);
	if ((used & PL_PARAM_STAGES) && (!cfg || w->stages != 1))
		ADD(cfg ? " %us" : "%ustages ", w->stages);
	if (used & PL_PARAM_QUEUE_DEPTH) {
		if (w->depth == PB_DEPTH_UNBOUNDED)
			ADD(cfg ? " d=unbounded" : "d=unb ");
		else
			ADD(cfg ? " d%llu" : "d%llu ", (unsigned long long)w->depth);
	}
	if ((used & PL_PARAM_WORK_NS) && w->work_ns != 0)
		ADD(cfg ? " work=%lldns" : "work=%lldns ", (long long)w->work_ns);
	if ((used & PL_PARAM_RATE) && w->rate > 0)
		ADD(cfg ? " rate=%g/s" : "rate=%g ", w->rate);
	if ((used & PL_PARAM_POLICY) && strcmp(w->policy, "-") != 0)
		ADD(cfg ? " policy=%s" : "%s ", w->policy);
	if ((used & PL_PARAM_SPIN) && w->spin_ns != PL_CHAN_SPIN_NS_DEFAULT)
		ADD(cfg ? " spin=%lldns" : "spin=%lld ", (long long)w->spin_ns);
	if ((used & PL_PARAM_TIMEOUT) && w->timeout_ns != 0)
		ADD(cfg ? " timeout=%lldns" : "timeout=%lld ", (long long)w->timeout_ns);
	if (strcmp(w->pin, "none") != 0)
		ADD(cfg ? " pin=%s" : "pin=%s ", w->pin);
#undef ADD
	if (!cfg && len > 0 && len < n)
		b[len - 1] = '\0';
	if (b[0] == '\0')
		snprintf(b, n, "default");
}

/* ---------------------------------------------------------------- helpers */

unsigned pb_pattern_threads(const struct pl_pattern *pat, const struct pl_params *p)
{
	return pat->threads != NULL ? pat->threads(p) : p->producers + p->consumers;
}

int pb_list_split(const char *opt, const char *str, char *buf, size_t bufn, char **items,
		  size_t max, char *err, size_t n)
{
	size_t count = 0;
	char *p;

	if (str[0] == '\0')
		return pb_einval(err, n, "%s: empty list", opt);
	if (strlen(str) >= bufn)
		return pb_einval(err, n, "%s: list too long (at most %zu characters)", opt,
				 bufn - 1);
	memcpy(buf, str, strlen(str) + 1);
	for (p = buf;;) {
		char *comma = strchr(p, ',');

		if (comma != NULL)
			*comma = '\0';
		if (*p == '\0')
			return pb_einval(err, n,
					 "%s: an empty item in '%s' (items are separated by single "
					 "commas)",
					 opt, str);
		if (count == max)
			return pb_einval(err, n, "%s: more than %zu items", opt, max);
		items[count++] = p;
		if (comma == NULL)
			return (int)count;
		p = comma + 1;
	}
}

int pb_einval(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void pb_field_clean(char *s)
{
	for (; *s != '\0'; s++)
		if (*s == ',' || *s == '"' || *s == ';' || *s == '\n' || *s == '\r' || *s == '\t')
			*s = ' ';
}

const char *pb_fmt_ns(double ns, char *buf, size_t n)
{
	if (ns < 1e3)
		snprintf(buf, n, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, n, "%.3gus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, n, "%.3gms", ns / 1e6);
	else
		snprintf(buf, n, "%.3gs", ns / 1e9);
	return buf;
}

const char *pb_fmt_tput(double mps, char *buf, size_t n)
{
	double m = mps / 1e6;

	if (m >= 100)
		snprintf(buf, n, "%.0f", m);
	else if (m >= 10)
		snprintf(buf, n, "%.1f", m);
	else if (m >= 1)
		snprintf(buf, n, "%.2f", m);
	else
		snprintf(buf, n, "%.2g", m);
	return buf;
}

int pb_write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX + 32];
	FILE *f;
	int err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	if (fwrite(data, 1, len, f) != len)
		err = -errno;
	if (fclose(f) != 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = -errno;
	if (err != 0)
		unlink(tmp);
	return err;
}

void pb_buf_printf(struct pb_buf *b, const char *fmt, ...)
{
	va_list ap;
	int need;

	va_start(ap, fmt);
	need = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (need < 0)
		return;
	if (b->len + (size_t)need + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + (size_t)need + 1)
			cap *= 2;
		b->s = pb_xrealloc(b->s, cap);
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)need;
}

void pb_json_str(struct pb_buf *b, const char *s)
{
	pb_buf_printf(b, "\"");
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			pb_buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			pb_buf_printf(b, "\\u%04x", c);
		else
			pb_buf_printf(b, "%c", c);
	}
	pb_buf_printf(b, "\"");
}
