// SPDX-License-Identifier: MIT
// patlab-go: Go's own channels in the patlab harness. Standard library only.
module patlab/bench/go

go 1.19
