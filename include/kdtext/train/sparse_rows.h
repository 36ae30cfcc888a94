// Embedding tables trained with sparse gradients (the sentence students'
// token and n-gram tables, issue 28): a batch touches a few thousand of their
// rows, and dense AdamW would read and write every row of every moment at
// every step (16.7M parameters for a 100k-bucket bag: ~90% of its step time).
#pragma once

#include <torch/torch.h>

#include <vector>

namespace kdtext::train {

// Each sparse COO gradient among `params` coalesced (duplicate rows summed),
// so that gradient clipping measures the true norm.
void coalesce_sparse_grads(const std::vector<torch::Tensor>& params);

// Each sparse gradient among `params` made dense (data-parallel reduction
// sums dense buffers).
void densify_sparse_grads(const std::vector<torch::Tensor>& params);

// Lazy AdamW for every parameter of `optimizer` whose gradient is sparse:
// only the rows the gradient names are updated, each by AdamW's rule with its
// group's lr, betas, eps and decoupled weight decay (decay applied to those
// rows only), with the parameter's step count for bias correction. The
// moments live in the optimiser's own per-parameter state, so checkpoints save
// and resume them as any other. Each such gradient is then cleared, so
// optimizer.step() updates the dense parameters alone. Refuses amsgrad.
void step_sparse_rows(torch::optim::AdamW& optimizer);

}  // namespace kdtext::train
