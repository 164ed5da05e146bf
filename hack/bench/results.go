package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// figure is one line of the table: ours against a baseline.
type figure struct {
	Name     string  `json:"name"`
	Unit     string  `json:"unit"`
	Ours     float64 `json:"ours"`
	Baseline float64 `json:"baseline,omitempty"`
	// BaselineName says what the baseline is ("" when there is none).
	BaselineName string  `json:"baselineName,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	// Target is the ratio (or absolute value) the figure must stay within.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
}

type results struct {
	Date    string   `json:"date"`
	Machine string   `json:"machine"`
	Command string   `json:"command"`
	Figures []figure `json:"figures"`
	Notes   []string `json:"notes,omitempty"`
}

func newResults() *results { return &results{} }

// add records a figure; maxRatio > 0 checks ours/baseline against it, maxValue >
// 0 checks ours (without a baseline) against it.
func (r *results) add(f figure, maxRatio, maxValue float64) {
	if f.Baseline > 0 {
		f.Ratio = f.Ours / f.Baseline
	}
	switch {
	case maxRatio > 0 && f.Baseline > 0:
		met := f.Ratio <= maxRatio
		f.Met, f.Target = &met, fmt.Sprintf("<= %.2fx", maxRatio)
	case maxValue > 0:
		met := f.Ours <= maxValue
		f.Met, f.Target = &met, "<= "+strconv.FormatFloat(maxValue, 'f', -1, 64)+" "+f.Unit
	}
	r.Figures = append(r.Figures, f)
	fmt.Fprintf(os.Stderr, "[bench] %s: %.3f %s (baseline %.3f, ratio %.2f)\n", f.Name, f.Ours, f.Unit, f.Baseline, f.Ratio)
}

func (r *results) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
	fmt.Fprintf(os.Stderr, "[bench] note: "+format+"\n", args...)
}

func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "\ngitops-reverser benchmarks, %s\n%s\n\n", r.Date, r.Machine)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tOURS\tBASELINE\tRATIO\tTARGET\tMET")
	for _, f := range r.Figures {
		base, ratio := "-", "-"
		if f.Baseline > 0 {
			base = fmt.Sprintf("%s (%s)", num(f.Baseline, f.Unit), f.BaselineName)
			ratio = fmt.Sprintf("%.2fx", f.Ratio)
		}
		met := ""
		if f.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*f.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, num(f.Ours, f.Unit), base, ratio, f.Target, met)
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
}

// save writes the results as JSON into out, once under the run's time and
// once as latest.json, and returns the first file.
func (r *results) save(out string) (string, error) {
	b, _ := json.MarshalIndent(r, "", "  ")
	file := filepath.Join(out, "results-"+time.Now().UTC().Format("20060102T150405Z")+".json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(out, "latest.json"), b, 0o644); err != nil {
		return "", err
	}
	return file, nil
}

func num(v float64, unit string) string {
	return strconv.FormatFloat(v, 'f', 3, 64) + " " + unit
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile returns the p-th percentile (0..100) of durations.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p / 100 * float64(len(s)-1))
	return s[i]
}

// rssKB reads a process's current and peak resident set size.
func rssKB(pid int) (cur, peak int64) {
	st := procStatus(pid)
	return st["VmRSS"], st["VmHWM"]
}

// resetPeakRSS starts a process's peak resident set size (VmHWM) over from
// its current size, so a phase's peak is its own and not the largest of the
// phases before it on the same server.
func resetPeakRSS(pid int) {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		fmt.Fprintf(os.Stderr, "[bench] peak RSS not reset (%v): the next peak includes the phases before it\n", err)
	}
}

// procStatus reads the kB figures of /proc/<pid>/status (VmRSS, RssAnon, ...);
// empty when the process is gone.
func procStatus(pid int) map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		out[strings.TrimSuffix(f[0], ":")] = v
	}
	return out
}
