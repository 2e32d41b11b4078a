# Sourced by scripts/generate.sh and scripts/check-contract-change.sh: `spec_python
# GENERATOR` prints a Python 3 that can import PyYAML, for scripts/check-spec.py.
# The pinned generator lives in its own virtualenv (the Makefile's rule), whose python is
# beside it: that one if it has PyYAML, else the machine's python3 if it has it, else the
# virtualenv's, once PyYAML is installed into it at a pinned version.
PYYAML_VERSION=6.0.3

spec_python() {
    local venv_bin
    venv_bin=$(dirname "$1")
    if [ -x "$venv_bin/python3" ] && "$venv_bin/python3" -c 'import yaml' 2>/dev/null; then
        echo "$venv_bin/python3"
    elif python3 -c 'import yaml' 2>/dev/null; then
        command -v python3
    elif [ -x "$venv_bin/pip" ]; then
        "$venv_bin/pip" install --quiet --disable-pip-version-check "pyyaml==$PYYAML_VERSION" >&2 &&
            echo "$venv_bin/python3"
    else
        echo "no python3 with PyYAML for scripts/check-spec.py: install PyYAML $PYYAML_VERSION" >&2
        return 1
    fi
}
