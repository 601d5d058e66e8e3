module patlab/bench/go

go 1.19
