#!/bin/bash
# Runs a program from .devcarry/bin (see tools/device/carry.sh) on the device machine as a
# single-rank MPI singleton, with the carried libraries and the pip NCCL; output to stdout and,
# when $OUT is set, to $OUT/<program>.log.
# Usage: bash tools/device/run.sh PROGRAM [ARGS...]
cd "$(dirname "$0")/../.."
C=$PWD/.devcarry
NCCLDIR=$(python3 -c "import nvidia.nccl as m, os; print(os.path.join(list(m.__path__)[0], 'lib'))" 2>/dev/null)
export LD_LIBRARY_PATH=$C/lib:$NCCLDIR
export OMPI_MCA_mca_base_component_path=$C/ompi/openmpi3 OMPI_MCA_ess_singleton_isolated=1
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
prog=$1; shift
if [[ -n ${OUT:-} ]]; then
  "$C/bin/$prog" "$@" 2>&1 | tee "$OUT/$prog.log"
  exit "${PIPESTATUS[0]}"
fi
exec "$C/bin/$prog" "$@"
