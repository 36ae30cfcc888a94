#include "kdtext/distill/frontier.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace kdtext::distill {

namespace {
double dev_accuracy(const Json& m) { return m.at("dev").at("accuracy").get<double>(); }
double speed(const Json& m) { return m.at("sentences_per_s").get<double>(); }

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::string escape_xml(const std::string& text) {
  std::string out;
  for (char ch : text) {
    switch (ch) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}
}  // namespace

Json frontier_report(const std::vector<Json>& models) {
  const auto teachers = std::count_if(models.begin(), models.end(),
                                      [](const Json& m) { return m.value("kind", "") == "teacher"; });
  if (teachers != 1) throw std::invalid_argument("frontier_report: exactly one teacher is needed");
  const Json& teacher = *std::find_if(models.begin(), models.end(),
                                      [](const Json& m) { return m.value("kind", "") == "teacher"; });
  Json out{{"models", Json::array()}, {"fastest_within", Json::object()}};
  for (const auto& m : models) {
    Json row = m;
    row["speedup"] = speed(m) / speed(teacher);
    bool dominated = false;
    for (const auto& o : models) {
      const bool no_worse = speed(o) >= speed(m) && dev_accuracy(o) >= dev_accuracy(m);
      const bool better = speed(o) > speed(m) || dev_accuracy(o) > dev_accuracy(m);
      dominated = dominated || (no_worse && better);
    }
    row["pareto"] = !dominated;
    out["models"].push_back(row);
  }
  for (int points : {1, 2, 3}) {
    const Json* best = nullptr;
    for (const auto& m : models) {
      const std::string kind = m.value("kind", "");
      if (kind != "distilled" && kind != "labels_only") continue;
      if (dev_accuracy(m) < dev_accuracy(teacher) - points / 100.0 - 1e-12) continue;
      if (!best || speed(m) > speed(*best)) best = &m;
    }
    out["fastest_within"][std::to_string(points)] = best ? Json(best->at("model")) : Json(nullptr);
  }
  return out;
}

std::string frontier_markdown(const Json& report) {
  std::ostringstream md;
  md << "| model | kind | dev acc | test acc | sentences/s | speed-up | Pareto |\n"
     << "| --- | --- | ---: | ---: | ---: | ---: | :---: |\n";
  for (const auto& m : report.at("models")) {
    const Json& test = m.at("test");
    md << "| " << m.at("model").get<std::string>() << " | " << m.value("kind", "") << " | "
       << fixed(100 * dev_accuracy(m), 2) << " | "
       << (test.is_null() ? std::string("-") : fixed(100 * test.at("accuracy").get<double>(), 2)) << " | "
       << fixed(speed(m), 0) << " | " << fixed(m.at("speedup").get<double>(), 1) << "x | "
       << (m.at("pareto").get<bool>() ? "yes" : "") << " |\n";
  }
  md << "\n";
  for (const auto& [points, name] : report.at("fastest_within").items()) {
    md << "Fastest student within " << points << " point" << (points == "1" ? "" : "s") << " of the teacher (dev): "
       << (name.is_null() ? std::string("none") : "`" + name.get<std::string>() + "`") << ".\n";
  }
  return md.str();
}

std::string frontier_svg(const Json& report) {
  const auto& models = report.at("models");
  double x_lo = 1e300, x_hi = 0, y_lo = 1, y_hi = 0;
  for (const auto& m : models) {
    x_lo = std::min(x_lo, std::log10(speed(m))), x_hi = std::max(x_hi, std::log10(speed(m)));
    y_lo = std::min(y_lo, dev_accuracy(m)), y_hi = std::max(y_hi, dev_accuracy(m));
  }
  x_lo = std::floor(x_lo), x_hi = std::max(std::ceil(x_hi), x_lo + 1);
  y_lo = std::floor(y_lo * 50) / 50, y_hi = std::max(std::ceil(y_hi * 50) / 50, y_lo + 0.02);
  const double w = 720, h = 440, left = 70, right = 170, top = 30, bottom = 50;
  const auto px = [&](double s) { return left + (std::log10(s) - x_lo) / (x_hi - x_lo) * (w - left - right); };
  const auto py = [&](double a) { return h - bottom - (a - y_lo) / (y_hi - y_lo) * (h - top - bottom); };
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (double e = x_lo; e <= x_hi + 1e-9; e += 1) {  // one grid line per decade
    svg << "<line x1=\"" << px(std::pow(10, e)) << "\" y1=\"" << top << "\" x2=\"" << px(std::pow(10, e))
        << "\" y2=\"" << h - bottom << "\" stroke=\"#ddd\"/>\n<text x=\"" << px(std::pow(10, e)) << "\" y=\""
        << h - bottom + 16 << "\" text-anchor=\"middle\">" << fixed(std::pow(10, e), 0) << "</text>\n";
  }
  for (double a = y_lo; a <= y_hi + 1e-9; a += 0.01) {
    svg << "<line x1=\"" << left << "\" y1=\"" << py(a) << "\" x2=\"" << w - right << "\" y2=\"" << py(a)
        << "\" stroke=\"#eee\"/>\n<text x=\"" << left - 6 << "\" y=\"" << py(a) + 4 << "\" text-anchor=\"end\">"
        << fixed(100 * a, 0) << "</text>\n";
  }
  svg << "<text x=\"" << (left + w - right) / 2 << "\" y=\"" << h - 12
      << "\" text-anchor=\"middle\">sentences/s (log scale)</text>\n<text x=\"16\" y=\"" << (top + h - bottom) / 2
      << "\" transform=\"rotate(-90 16 " << (top + h - bottom) / 2
      << ")\" text-anchor=\"middle\">dev accuracy (%)</text>\n";
  std::vector<const Json*> front;
  for (const auto& m : models) {
    if (m.at("pareto").get<bool>()) front.push_back(&m);
  }
  std::sort(front.begin(), front.end(), [](const Json* a, const Json* b) { return speed(*a) < speed(*b); });
  svg << "<polyline fill=\"none\" stroke=\"#888\" stroke-dasharray=\"4 3\" points=\"";
  for (const Json* m : front) svg << px(speed(*m)) << "," << py(dev_accuracy(*m)) << " ";
  svg << "\"/>\n";
  for (const auto& m : models) {
    const std::string kind = m.value("kind", "");
    const char* colour = kind == "teacher" ? "#d62728" : kind == "distilled" ? "#1f77b4" : kind == "peer" ? "#2ca02c" : "#999";
    svg << "<circle cx=\"" << px(speed(m)) << "\" cy=\"" << py(dev_accuracy(m)) << "\" r=\"5\" fill=\"" << colour
        << "\"/>\n<text x=\"" << px(speed(m)) + 8 << "\" y=\"" << py(dev_accuracy(m)) + 4 << "\">"
        << escape_xml(m.at("model").get<std::string>()) << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace kdtext::distill
