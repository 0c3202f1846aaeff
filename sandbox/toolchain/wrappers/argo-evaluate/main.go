// argo-evaluate runs Argo Rollouts' own code on AnalysisTemplate metrics, for tests/promql (npm run test:promql).
// Built by the tool builder like the other wrappers here (`npm run tools -- build argo-evaluate`).
//
// It is built against github.com/argoproj/argo-rollouts v1.9.0 (the controller version model-fleet installs) and
// uses exactly the code paths the controller uses for a Prometheus metric:
//   - resolve:  utils/analysis.ResolveMetricArgs substitutes {{args.x}} in the whole metric (query and conditions);
//   - evaluate: metricproviders/prometheus.Provider.Run with an API whose Query returns the given instant vector, so
//     processResponse (vector → []float64 `result`) and utils/evaluate.EvaluateResult (expr conditions → phase)
//     decide the measurement.
//
// stdin: {"mode":"resolve","cases":[{"metric":<Metric>,"args":[{"name":..,"value":..}]}]}
//
//	or {"mode":"evaluate","cases":[{"metric":<resolved Metric>,"values":["0.5","NaN","+Inf"]}]}
//	   (values: one string per series of the instant vector; [] is an empty vector)
//
// stdout: {"results":[{"metric":<resolved Metric>}]} or {"results":[{"phase":..,"value":..,"message":..}]}
//
// `argo-evaluate --version` prints the argo-rollouts module version it is linked against.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	log "github.com/sirupsen/logrus"

	"github.com/argoproj/argo-rollouts/metricproviders/prometheus"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	analysisutil "github.com/argoproj/argo-rollouts/utils/analysis"
)

type input struct {
	Mode  string `json:"mode"`
	Cases []struct {
		Metric v1alpha1.Metric     `json:"metric"`
		Args   []v1alpha1.Argument `json:"args"`
		Values []string            `json:"values"`
	} `json:"cases"`
}

type result struct {
	Metric  *v1alpha1.Metric `json:"metric,omitempty"`
	Phase   string           `json:"phase,omitempty"`
	Value   string           `json:"value,omitempty"`
	Message string           `json:"message,omitempty"`
}

// vectorAPI answers every instant query with one fixed vector; every other method is unused (nil embedded API).
type vectorAPI struct {
	v1.API
	vector model.Vector
}

func (a vectorAPI) Query(_ context.Context, _ string, _ time.Time, _ ...v1.Option) (model.Value, v1.Warnings, error) {
	return a.vector, nil, nil
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("argo-evaluate (" + linked("github.com/argoproj/argo-rollouts") + ")")
		return
	}
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail(fmt.Errorf("decoding stdin: %w", err))
	}
	log.SetOutput(os.Stderr)
	logCtx := *log.WithField("tool", "argo-evaluate")
	out := make([]result, 0, len(in.Cases))
	for i, c := range in.Cases {
		switch in.Mode {
		case "resolve":
			m, err := analysisutil.ResolveMetricArgs(c.Metric, c.Args)
			if err != nil {
				fail(fmt.Errorf("cases[%d]: %w", i, err))
			}
			out = append(out, result{Metric: m})
		case "evaluate":
			vector := model.Vector{}
			for _, s := range c.Values {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					fail(fmt.Errorf("cases[%d]: value %q: %w", i, s, err))
				}
				vector = append(vector, &model.Sample{Metric: model.Metric{}, Value: model.SampleValue(f)})
			}
			p, err := prometheus.NewPrometheusProvider(vectorAPI{vector: vector}, logCtx, c.Metric)
			if err != nil {
				fail(fmt.Errorf("cases[%d]: %w", i, err))
			}
			m := p.Run(&v1alpha1.AnalysisRun{}, c.Metric)
			out = append(out, result{Phase: string(m.Phase), Value: m.Value, Message: m.Message})
		default:
			fail(fmt.Errorf("unknown mode %q (resolve | evaluate)", in.Mode))
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"results": out}); err != nil {
		fail(err)
	}
}

// linked is "<module> <version>" of a dependency as recorded in the binary's build info.
func linked(module string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == module {
				return d.Path + " " + d.Version
			}
		}
	}
	return module + " (unknown version)"
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "argo-evaluate:", err)
	os.Exit(2)
}
