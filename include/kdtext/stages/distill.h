// Stage 5: distil a teacher into a student, on a labelled task (mode task)
// or on the unlabelled token shards of a kdtext-preprocess output (mode
// general). The configuration and the training tasks are in distill/; this is
// the stage's wiring: store placement, the trainer, the run's metrics.
#pragma once

#include "kdtext/distill/config.h"

namespace kdtext::stages {

Json run_distill(const distill::DistillConfig& c, torch::Device device);

}  // namespace kdtext::stages
