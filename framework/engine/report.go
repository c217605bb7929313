// The report of a run: report.md (through framework/report) and the same
// table on the terminal.

package engine

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/mohawk-distill/mohawk/framework/pipeline"
	"github.com/mohawk-distill/mohawk/framework/report"
)

func reportRows(rows []Row) []report.Row {
	out := make([]report.Row, len(rows))
	for i, r := range rows {
		out[i] = report.Row{Model: r.Model, Stage: r.Stage, Tokens: r.Tokens, ValPPL: r.ValPPL, Agreement: r.Agreement, Seconds: r.Seconds}
	}
	return out
}

// writeReport writes <out>/report.md with the run's rows and loss curves.
func writeReport(out string, p *pipeline.Pipeline, res *Result, notes ...string) error {
	for _, ref := range sortedKeys(res.Saved) {
		dir := res.Saved[ref]
		rel, err := filepath.Rel(out, dir)
		if err != nil {
			rel = dir
		}
		notes = append(notes, fmt.Sprintf("%s saved to %s.", ref, rel))
	}
	return report.Write(out, report.Run{Title: "mohawk run: " + filepath.Base(p.Path), Pipeline: p.Path,
		Rows: reportRows(res.Rows), Metrics: res.Metrics, Notes: notes})
}

// printRows prints the results table.
func printRows(w io.Writer, rows []Row) { report.Table(w, reportRows(rows)) }
