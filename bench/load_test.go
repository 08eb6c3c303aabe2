package bench

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// outcome is one or more measured windows.
type outcome struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
	cpu     time.Duration // CPU time the server process used for these requests
}

func (o outcome) rate() float64 { return float64(o.n) / o.elapsed.Seconds() }

func (o outcome) percentile(p int) time.Duration {
	if len(o.lat) == 0 {
		return 0
	}
	s := slices.Clone(o.lat)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func (o *outcome) add(w outcome) {
	o.n += w.n
	o.elapsed += w.elapsed
	o.lat = append(o.lat, w.lat...)
	o.cpu += w.cpu
}

// cpuPerRequest is the server's CPU time per request: unlike a rate, it
// hardly moves with load from other processes on the machine, so it is the
// steadier measure of what a request costs.
func (o outcome) cpuPerRequest() time.Duration {
	if o.n == 0 {
		return 0
	}
	return o.cpu / time.Duration(o.n)
}

// interleaved measures a target and its reference in alternating windows
// (reference, target, reference, …) over requests [0, n) each, so both see
// the same machine: on a shared 2-core host, load from elsewhere moves
// absolute rates by 2–4× within a minute, and only a ratio measured this way
// means anything. run(target, lo, hi) measures requests [lo, hi).
func interleaved(n, windows int, run func(reference bool, lo, hi int) outcome) (target, reference outcome) {
	windows = max(1, min(windows, n))
	for w := range windows {
		lo, hi := n*w/windows, n*(w+1)/windows
		reference.add(run(true, lo, hi))
		target.add(run(false, lo, hi))
	}
	return target, reference
}

// drive sends requests [lo, hi) from clients concurrent clients, each with
// its own keep-alive connection (a browser or a proxy worker each), and
// checks every status. mk builds request i; seen, when set, gets every
// response (before its body is drained).
func drive(b *testing.B, pid, clients, lo, hi int, mk func(i int) *http.Request, want int, seen func(i int, resp *http.Response)) outcome {
	b.Helper()
	cpu0 := processCPU(pid)
	n := hi - lo
	var next atomic.Int64
	next.Store(int64(lo))
	lat := make([][]time.Duration, clients)
	var failed atomic.Value
	var wg sync.WaitGroup
	transports := make([]*http.Transport, clients)
	for c := range clients {
		transports[c] = &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
	}
	defer func() {
		for _, t := range transports {
			t.CloseIdleConnections()
		}
	}()
	start := time.Now()
	for c := range clients {
		cl := &http.Client{Transport: transports[c], Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		lat[c] = make([]time.Duration, 0, n/clients+1)
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= hi || failed.Load() != nil {
					return
				}
				req := mk(i)
				t0 := time.Now()
				resp, err := cl.Do(req)
				if err != nil {
					failed.CompareAndSwap(nil, err.Error())
					return
				}
				if seen != nil {
					seen(i, resp)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat[c] = append(lat[c], time.Since(t0))
				if resp.StatusCode != want {
					failed.CompareAndSwap(nil, req.Method+" "+req.URL.Path+": "+resp.Status+": "+string(body))
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	return outcome{n: n, elapsed: elapsed, lat: slices.Concat(lat...), cpu: processCPU(pid) - cpu0}
}

// processCPU is the user + system CPU time of a whole process (every
// thread), from /proc/<pid>/stat; 0 for pid 0.
func processCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after its ')' are fixed.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// report puts a target's outcome, and its reference's when measured, on
// the benchmark line.
func report(b *testing.B, target, reference outcome) {
	b.ReportMetric(target.rate(), "req/s")
	b.ReportMetric(float64(target.percentile(50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(target.percentile(99).Microseconds())/1000, "p99-ms")
	if target.cpu > 0 {
		b.ReportMetric(float64(target.cpuPerRequest().Nanoseconds())/1000, "cpu-µs/req")
	}
	if reference.n > 0 {
		b.ReportMetric(reference.rate(), "ref-req/s")
		b.ReportMetric(target.rate()/reference.rate(), "ratio")
		if target.cpu > 0 && reference.cpu > 0 {
			b.ReportMetric(float64(reference.cpuPerRequest().Nanoseconds())/1000, "ref-cpu-µs/req")
			// What the rate ratio would be if both were bound by the server's
			// CPU alone, as on a machine with nothing else running.
			b.ReportMetric(float64(reference.cpuPerRequest())/float64(target.cpuPerRequest()), "cpu-ratio")
		}
	}
}

// reportAgainst reports a target measured against a baseline of the same
// server kind (BenchmarkScale: a large database against an empty one).
func reportAgainst(b *testing.B, target, base outcome, name string) {
	b.ReportMetric(target.rate(), "req/s")
	b.ReportMetric(float64(target.percentile(99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(base.rate(), name+"-req/s")
	b.ReportMetric(target.rate()/base.rate(), "vs-"+name)
	if target.cpu > 0 && base.cpu > 0 {
		b.ReportMetric(float64(target.cpuPerRequest().Nanoseconds())/1000, "cpu-µs/req")
		b.ReportMetric(float64(base.cpuPerRequest().Nanoseconds())/1000, name+"-cpu-µs/req")
		b.ReportMetric(float64(base.cpuPerRequest())/float64(target.cpuPerRequest()), "cpu-vs-"+name)
	}
}

// memory is a process's memory as /proc reports it, in kB.
type memory struct {
	peakAnon int // the highest RssAnon seen while sampling
	hwm      int // VmHWM: peak resident set, file-backed pages (bbolt's map) included
}

// sampleMemory polls /proc/pid/status until stop is called: the kernel keeps
// a peak only for the whole resident set (VmHWM), not for its anonymous part.
func sampleMemory(pid int) (stop func() memory) {
	var mu sync.Mutex
	var m memory
	done := make(chan struct{})
	finished := make(chan struct{})
	read := func() {
		anon, hwm := procStatus(pid)
		mu.Lock()
		m.peakAnon = max(m.peakAnon, anon)
		m.hwm = max(m.hwm, hwm)
		mu.Unlock()
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() memory {
		close(done)
		<-finished
		read()
		mu.Lock()
		defer mu.Unlock()
		return m
	}
}

func procStatus(pid int) (rssAnon, vmHWM int) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.Atoi(f[0])
		switch k {
		case "RssAnon":
			rssAnon = n
		case "VmHWM":
			vmHWM = n
		}
	}
	return rssAnon, vmHWM
}

func reportMemory(b *testing.B, m memory) {
	b.ReportMetric(float64(m.peakAnon)/1024, "anon-peak-MB")
	b.ReportMetric(float64(m.hwm)/1024, "hwm-MB")
}

// commits reads the server's store-commit counters from its metrics (admin
// socket): how many commits and how many write requests they carried.
func commits(b *testing.B, w *world) (count, requests float64) {
	b.Helper()
	code, body := w.srv.API("GET", "/metrics", nil)
	if code != http.StatusOK {
		b.Fatalf("metrics: status %d", code)
	}
	for line := range strings.Lines(string(body)) {
		name, val, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "gatehouse_store_commit_requests_count":
			count = v
		case "gatehouse_store_commit_requests_sum":
			requests = v
		}
	}
	return count, requests
}

// reportGroups puts the mean group-commit size since (count0, requests0) on
// the benchmark line: each commit costs its fsyncs whatever its size.
func reportGroups(b *testing.B, w *world, count0, requests0 float64) {
	count, requests := commits(b, w)
	if count > count0 {
		b.ReportMetric((requests-requests0)/(count-count0), "writes/commit")
	}
}
