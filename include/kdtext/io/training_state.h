// What an exact resume needs beside a model checkpoint, in
// <checkpoint>/training_state/: optimizer.pt (AdamW state), rng.pt (the CPU
// generator), rng_cuda.pt (each CUDA device's generator, when the run saw a
// GPU) and state.json (step, selection bookkeeping, data position,
// trainer options). Only io writes these files; train/ decides what goes in.
#pragma once

#include <torch/torch.h>

#include <filesystem>

#include "kdtext/util/json.h"

namespace kdtext::io {

inline constexpr const char* kTrainingStateDir = "training_state";

// Writes the three files into `checkpoint_dir`/training_state (the checkpoint
// directory is normally staged, so they appear together or not at all).
void save_training_state(const std::filesystem::path& checkpoint_dir, torch::optim::Optimizer& optimizer,
                         const Json& state);

// Restores the optimizer and the CPU and CUDA generators (a GPU run resumed
// without a GPU, or the reverse, keeps the seeded CUDA state, with a log
// line) and returns state.json.
// Throws InputError naming the file when one is missing or unreadable.
Json load_training_state(const std::filesystem::path& checkpoint_dir, torch::optim::Optimizer& optimizer);

// Whether `checkpoint_dir` holds a training state (a resumable checkpoint).
bool has_training_state(const std::filesystem::path& checkpoint_dir);

}  // namespace kdtext::io
