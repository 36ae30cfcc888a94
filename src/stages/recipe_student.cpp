// kdtext-recipe's transformer student: how it starts.
#include <filesystem>

#include "kdtext/model/config.h"
#include "kdtext/model/student.h"
#include "kdtext/util/json.h"
#include "recipe_run.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

Json recipe_student_spec(const RecipeConfig& c, std::string* how) {
  // A student no wider than the teacher starts from its weights: its layers spread over the teacher's, rows and
  // columns selected where it is narrower (model::select_widths). A wider one starts at random.
  model::StudentSpec spec;
  spec.preset = c.preset;
  spec = model::resolve_student_spec(spec);
  const fs::path config = fs::path(c.encoder()) / "config.json";
  const auto t = model::bert_config_from_json(read_json_file(config), config.string());
  const bool select = model::wider_than_teacher(spec.hidden, spec.heads, spec.intermediate, t).empty();
  if (how) {
    *how = select ? "starting from the teacher's weights"
                  : "at random: it is wider than the teacher in hidden size, heads or feed-forward size";
  }
  Json student{{"preset", c.preset}};
  if (select) student.update(Json{{"init", "teacher-layers"}, {"layer_selection", "spread"}});
  return student;
}

}  // namespace kdtext::stages
