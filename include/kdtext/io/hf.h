// Reading a transformers (Hugging Face) BERT directory: config.json and
// model.safetensors, with names normalised to kdtext's. kdtext-import-hf
// (stages/interop.h) turns the result into a checkpoint; export needs no code
// (every checkpoint is a transformers directory).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kdtext/io/safetensors.h"
#include "kdtext/model/bert.h"

namespace kdtext::io {

// The head the weights carry (classifier.*, cls.predictions.*, or none).
model::Heads heads_of_weights(const TensorMap& w);

// config.json: the model configuration and the architecture name. Other
// model types and architectures are refused by name (InputError naming the
// file) before any weight is read; `origin` names the directory in errors.
std::pair<model::BertConfig, std::string> read_hf_config(const std::filesystem::path& src, const std::string& origin);

// A PyTorch checkpoint (torch.save's zip format: pytorch_model.bin) read as a
// state dict without running Python or any pickled code: kdtext's zip reader
// (io/zip.h) and a pickle reader that rebuilds dicts (OrderedDict included, its
// _metadata dropped), tuples, lists, numbers, strings and tensors only, and
// refuses any other class by name; storages saved on a GPU are read into CPU
// memory. The top object must be a dict of tensors: any other value is an
// InputError naming the file and the key; the legacy (pre-1.6, non-zip)
// format, an unknown format version and corrupt files are an InputError
// naming the file. Only the tensors `keep` accepts (all without it) are
// read, and a storage they need is read only if it holds at most
// `max_storage_elements` elements; the others are never read.
TensorMap read_torch_state_dict(const std::filesystem::path& path,
                                const std::function<bool(const std::string&)>& keep = {},
                                int64_t max_storage_elements = INT64_MAX);

// model.safetensors (or, without it, pytorch_model.bin) as float32, names with the "bert." prefix; weights kdtext
// has no place for (the next-sentence head) are appended to `dropped`. A weight that is not floating point
// (int64, bool...) is an InputError naming the file and the key; from pytorch_model.bin no storage larger
// than `config`'s largest weight is read.
TensorMap read_hf_weights(const std::filesystem::path& src, const model::BertConfig& config, const std::string& origin,
                          std::vector<std::string>& dropped);

}  // namespace kdtext::io
