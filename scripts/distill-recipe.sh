#!/usr/bin/env bash
# The one-command route is kdtext-recipe (see kdtext-recipe --help); this name is kept for scripts that call it.
exec "${KDTEXT_BIN:-${KDTEXT_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build}/bin}/kdtext-recipe" "$@"
