// Native Go throughput of sync.Map and of a map[any]any behind a sync.RWMutex on the
// workloads of mapfuzz's "designs side by side" bench (csrc/microbench.c), without
// cgo or mapfuzz's key and value encoding in the way. harness/bench/designs.py runs
// it with `go run bench/gomaps.go -ops N -rounds R` and reads the JSON it prints:
//
//	{"read-heavy": {"rwmutex": {"1": ops_per_s, "2": ...}, "syncmap": {...}}, ...}
//
// Workloads (int64 keys boxed in interface values, as in a map[any]any):
//
//	read-heavy   90% Load, 10% Store of existing keys over 1,024 keys
//	write-heavy  Stores of keys never used before (each goroutine its own range)
//	mixed        50% Load, 30% Store, 10% LoadOrStore, 10% LoadAndDelete over 1,024 keys
//
// Each measurement starts from a warm map (every key stored, then loaded once) and
// releases its goroutines together; the figure is all operations over the wall
// time. Rounds go round-robin over (workload, goroutines, map); the median of the
// rounds is printed. GOMAXPROCS is left at its default (the number of CPUs).
// Standard library only (Debian: apt-get install golang-go).
package main

import (
	"encoding/json"
	"flag"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

const keys = 1024

type kvmap interface {
	Load(k any) (any, bool)
	Store(k, v any)
	LoadOrStore(k, v any) (any, bool)
	LoadAndDelete(k any) (any, bool)
}

type rwMap struct {
	mu sync.RWMutex
	m  map[any]any
}

func (r *rwMap) Load(k any) (any, bool) {
	r.mu.RLock()
	v, ok := r.m[k]
	r.mu.RUnlock()
	return v, ok
}

func (r *rwMap) Store(k, v any) {
	r.mu.Lock()
	r.m[k] = v
	r.mu.Unlock()
}

func (r *rwMap) LoadOrStore(k, v any) (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.m[k]; ok {
		return cur, true
	}
	r.m[k] = v
	return v, false
}

func (r *rwMap) LoadAndDelete(k any) (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[k]
	delete(r.m, k)
	return v, ok
}

func newMap(name string) kvmap {
	if name == "syncmap" {
		return &sync.Map{}
	}
	return &rwMap{m: map[any]any{}}
}

func run(m kvmap, workload string, g int, ops int, seed uint64) float64 {
	for k := int64(0); k < keys; k++ {
		m.Store(k, k)
	}
	for k := int64(0); k < keys; k++ {
		m.Load(k)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for t := 0; t < g; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			x := (seed*0x9e3779b97f4a7c15 + uint64(t) + 1) | 1
			<-start
			for i := 0; i < ops; i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				dice := (x & 0xff) % 100
				k := int64((x >> 8) % keys)
				switch {
				case workload == "write-heavy":
					m.Store(int64(t+1)<<40|int64(i), int64(i))
				case workload == "read-heavy" && dice < 90, workload == "mixed" && dice < 50:
					m.Load(k)
				case workload == "read-heavy" || dice < 80:
					m.Store(k, int64(i))
				case dice < 90:
					m.LoadOrStore(k, int64(i))
				default:
					m.LoadAndDelete(k)
				}
			}
		}(t)
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	return float64(g*ops) / time.Since(t0).Seconds()
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func main() {
	ops := flag.Int("ops", 200000, "operations per goroutine (write-heavy: half)")
	rounds := flag.Int("rounds", 7, "rounds; the median is printed")
	flag.Parse()
	workloads := []string{"read-heavy", "write-heavy", "mixed"}
	maps := []string{"rwmutex", "syncmap"}
	samples := map[string]map[string]map[string][]float64{}
	for r := 0; r < *rounds; r++ {
		for _, w := range workloads {
			for _, g := range []int{1, 2} {
				for _, name := range maps {
					n := *ops
					if w == "write-heavy" {
						n /= 2
					}
					rate := run(newMap(name), w, g, n, uint64(r+1))
					if samples[w] == nil {
						samples[w] = map[string]map[string][]float64{}
					}
					if samples[w][name] == nil {
						samples[w][name] = map[string][]float64{}
					}
					gs := strconv.Itoa(g)
					samples[w][name][gs] = append(samples[w][name][gs], rate)
				}
			}
		}
	}
	out := map[string]map[string]map[string]int64{}
	for w, per := range samples {
		out[w] = map[string]map[string]int64{}
		for name, byG := range per {
			out[w][name] = map[string]int64{}
			for g, xs := range byG {
				out[w][name][g] = int64(median(xs))
			}
		}
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		os.Exit(1)
	}
}
