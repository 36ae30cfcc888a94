// Fault injection for the crash campaign (scripts/crash-test.sh). When the
// environment variable KDTEXT_CRASH_AT is "NAME:N", the N-th time the process
// reaches crash_point("NAME") (or any point, for NAME "*") it kills itself
// with SIGKILL: stopped at that instant, as kill -9 or a power cut would stop
// it. Unset, as in every normal run, a point costs one cached comparison.
//
// Points (the commit protocol of util/atomic.h and the trainer's pruning):
//   file.before_rename  file.after_rename        AtomicFileWriter::commit
//   dir.before_rename   dir.old_aside  dir.after_rename   StagedDirectory::commit
//   prune.renamed       a checkpoint renamed away, not yet deleted
//   recipe.<stage>      kdtext-recipe about to run a stage (finetune, augment,
//                       build-student, distill, preprocess)
//   distill.teacher_logits   a --teacher-logits cache written, training not begun
#pragma once

namespace kdtext {

void crash_point(const char* name);

}  // namespace kdtext
