#!/usr/bin/env bash
# ansible-test sanity on the modules and plugins, through a throwaway collection copy
# (ansible-test needs a collection layout): validate-modules compares DOCUMENTATION with
# each argument spec, and the other sanity tests run on the same files. Offline-safe.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BIN="$ROOT/${VENV:-.venv}/bin"
export PATH="$BIN:$PATH"

# ansible-test downloads a get-pip script from a host that may be unreachable: a stand-in
# that uses ensurepip and then pip (configured by files, as ansible-test passes only HOME/PATH/LC_ALL).
PIP_VERSION="$("$BIN/python" - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version="3.11", path="/usr/bin/python3.11"))["pip"])
PY
)"
CACHE="$HOME/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py"
if [ ! -f "$CACHE" ]; then
  mkdir -p "$(dirname "$CACHE")"
  cat > "$CACHE" <<'PY'
# Stand-in for get-pip.py: bootstrap pip with ensurepip, then install the requested packages.
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
PY
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
COLL="$WORK/ansible_collections/jsonmend/jsonmend"
mkdir -p "$COLL/plugins" "$COLL/meta"
cp -r library "$COLL/plugins/modules"
cp -r module_utils "$COLL/plugins/module_utils"
cp -r filter_plugins "$COLL/plugins/filter"
cp -r action_plugins "$COLL/plugins/action"
cp -r doc_fragments "$COLL/plugins/doc_fragments"
find "$COLL" -name __pycache__ -prune -exec rm -rf {} +
grep -rl "ansible.module_utils.jsonmend" "$COLL/plugins" | xargs sed -i \
  's/ansible\.module_utils\.jsonmend/ansible_collections.jsonmend.jsonmend.plugins.module_utils.jsonmend/g'
sed -i 's/^  - \(jsonmend_[a-z_]*\)$/  - jsonmend.jsonmend.\1/' "$COLL"/plugins/modules/*.py
cat > "$COLL/galaxy.yml" <<'YML'
namespace: jsonmend
name: jsonmend
version: 0.1.0
readme: README.md
authors: [jsonmend maintainers]
license: [MIT]
YML
printf -- '---\nrequires_ansible: ">=2.19.0"\n' > "$COLL/meta/runtime.yml"
printf '# jsonmend (sanity copy)\n' > "$COLL/README.md"
# The modules carry the project's license, not a GPLv3 header: the one accepted finding.
mkdir -p "$COLL/tests/sanity"
for module in "$COLL"/plugins/modules/*.py; do
  echo "plugins/modules/$(basename "$module") validate-modules:missing-gplv3-license"
done > "$COLL/tests/sanity/ignore-2.19.txt"
(cd "$COLL" && git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm copy)
cd "$COLL"
"$BIN/ansible-test" sanity --python 3.11 --color no "$@"
