// The accuracy-against-speed frontier of kdtext-recipe --student frontier
// (issue 28): which models are Pareto-optimal, the fastest student within 1,
// 2 and 3 accuracy points of the teacher, and the report's table and plot.
// Pure functions of the measured figures, tested on their own.
#pragma once

#include <string>
#include <vector>

#include "kdtext/util/json.h"

namespace kdtext::distill {

// One measured model: "model" (its name), "kind" ("teacher", "distilled",
// "labels_only" or "peer"), "sentences_per_s", "dev" {"accuracy", ...},
// "test" (the same or null); any other keys are kept.
// Returns {"models": [... each with "speedup" (vs the teacher), "pareto"
// (true when no other model is at least as fast and as accurate on dev, and
// better in one)], "fastest_within": {"1": name or null, "2": ..., "3": ...}
// (the fastest distilled or labels-only model whose dev accuracy is at most
// that many points below the teacher's)}. Exactly one model must be the teacher.
Json frontier_report(const std::vector<Json>& models);
// The table (markdown) of a frontier_report.
std::string frontier_markdown(const Json& report);
// A scatter plot (SVG): dev accuracy against sentences/s on a log scale,
// every model labelled, the Pareto front joined by a line.
std::string frontier_svg(const Json& report);

}  // namespace kdtext::distill
