// classify_api CHECKPOINT [TEXTS]: one line per text (standard input without
// TEXTS) -> "label<TAB>probability" per line, as kdtext-classify prints them.
#include <kdtext/classifier.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: " << argv[0] << " CHECKPOINT [TEXTS]\n";
    return 2;
  }
  try {
    kdtext::ClassifierOptions options;
    options.precision = "fp32";  // or "bf16", "int8"
    const kdtext::Classifier model(argv[1], options);
    std::ifstream file;
    if (argc == 3) file.open(argv[2]);
    std::istream& in = argc == 3 ? file : std::cin;
    std::vector<std::string> texts;
    for (std::string line; std::getline(in, line);) texts.push_back(line);
    const auto t0 = std::chrono::steady_clock::now();
    const auto predictions = model.classify(texts);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "label\tprobability\n";
    for (const auto& p : predictions) {
      char probability[32];
      std::snprintf(probability, sizeof probability, "%.6f", p.probability);
      std::cout << p.label << '\t' << probability << '\n';
    }
    std::cerr << model.facts().layers << " layers x " << model.facts().hidden_size << ", labels:";
    for (const auto& l : model.labels()) std::cerr << ' ' << l;
    std::cerr << "; classified " << texts.size() << " texts in " << seconds << " s\n";
    return 0;
  } catch (const std::exception& e) {  // kdtext::InputError, kdtext::ConfigError
    std::cerr << "classify_api: " << e.what() << '\n';
    return 1;
  }
}
