// Package wscompare measures the WebSocket libraries the gate could use,
// server side: memory per idle upgraded connection and the cost of a small
// binary message echo. It is a module of its own so the gate's module
// depends on the chosen library only. Results: BENCHMARKS.md.
//
//	cd internal/wscompare && go test -bench . -benchmem
package wscompare
