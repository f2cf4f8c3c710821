package main

import (
	"fmt"
	"image/color"
	"os"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// drawChart writes three panels side by side: CPU per sample and RSS per target, each system a line across
// the target counts measured, and each system's CPU over time at the largest count (every 100 ms: the burst
// of aligned scrapes beside the spread).
func drawChart(path string, results []result) error {
	cpu, rss, overTime := plot.New(), plot.New(), plot.New()
	counts := targetCounts(results)
	largest := slices.Max(counts)
	cpu.Title.Text, cpu.X.Label.Text, cpu.Y.Label.Text = "CPU per sample", "targets", "ns"
	rss.Title.Text, rss.X.Label.Text, rss.Y.Label.Text = "peak RSS per target", "targets", "KiB"
	if len(counts) > 1 {
		cpu.X.Scale, rss.X.Scale = plot.LogScale{}, plot.LogScale{}
		cpu.X.Tick.Marker, rss.X.Tick.Marker = plot.LogTicks{}, plot.LogTicks{}
		// Per target, memory falls by orders of magnitude as the fixed share spreads over more targets.
		rss.Y.Scale, rss.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
	}
	overTime.Title.Text = fmt.Sprintf("CPU every 100 ms, %d targets", largest)
	overTime.X.Label.Text, overTime.Y.Label.Text = "s", "ms of CPU"
	var names []string
	for _, r := range results {
		if !slices.Contains(names, r.System) {
			names = append(names, r.System)
		}
	}
	for i, name := range names {
		var cpuPts, rssPts plotter.XYs
		for _, r := range results {
			if r.System == name {
				cpuPts = append(cpuPts, plotter.XY{X: float64(r.Targets), Y: r.CPUNsPerSample})
				rssPts = append(rssPts, plotter.XY{X: float64(r.Targets), Y: float64(r.PeakRSSBytes) / 1024 / float64(r.Targets)})
			}
			if r.System == name && r.Targets == largest && len(r.CPUSamples) > 1 {
				pts := make(plotter.XYs, len(r.CPUSamples))
				for k, ms := range r.CPUSamples {
					pts[k] = plotter.XY{X: float64(k) / 10, Y: ms}
				}
				line, err := plotter.NewLine(pts)
				if err != nil {
					return err
				}
				line.Color = palette[i%len(palette)]
				overTime.Add(line)
				overTime.Legend.Add(name, line)
			}
		}
		for _, p := range []struct {
			plot *plot.Plot
			pts  plotter.XYs
		}{{cpu, cpuPts}, {rss, rssPts}} {
			line, points, err := plotter.NewLinePoints(p.pts)
			if err != nil {
				return err
			}
			line.Color = palette[i%len(palette)]
			points.Color = line.Color
			points.Shape = draw.CircleGlyph{}
			p.plot.Add(line, points)
			if p.plot == cpu {
				cpu.Legend.Add(name, line, points)
			}
		}
	}
	// Headroom above the highest line for the legend.
	cpu.Legend.Top = true
	cpu.Y.Min, cpu.Y.Max = 0, cpu.Y.Max*1.4
	overTime.Legend.Top = true
	img := vgimg.New(24*vg.Inch, 6*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 3, PadX: vg.Inch / 4}
	cpu.Draw(tiles.At(dc, 0, 0))
	rss.Draw(tiles.At(dc, 1, 0))
	overTime.Draw(tiles.At(dc, 2, 0))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(f)
	return err
}

func targetCounts(results []result) []int {
	var counts []int
	for _, r := range results {
		if !slices.Contains(counts, r.Targets) {
			counts = append(counts, r.Targets)
		}
	}
	return counts
}

var palette = []color.Color{
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}
