# Shared by the prepared GPU scripts (gpu_study.sh, gpu_bundle.sh); sourced, not run.

# install_wheels DIR SITE: DIR's wheels into SITE, offline (the device machines have no fastai).
install_wheels() {
	stamp "installing $(ls "$1"/*.whl | wc -l) wheels from $1"
	"$PY" -m pip install -q --no-index --no-deps --no-compile --target "$2" "$1"/*.whl
}

# copy_run_records RUNS DEST: every history.csv, model.json and run.json under RUNS into DEST,
# keeping the folders (what comes back from a device machine; the weights stay there).
copy_run_records() {
	mkdir -p "$2"
	(cd "$1" && find . \( -name history.csv -o -name model.json -o -name run.json \) -print0 |
		xargs -0 -r cp --parents -t "$2")
}
