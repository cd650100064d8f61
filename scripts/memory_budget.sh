# shellcheck shell=bash
# What one TorchServe container holds at most, in MiB: the arithmetic of docs/kubernetes.md ("Memory"), in
# the one place the entrypoint (scripts/torchserve_foreground.sh, which refuses a worker count the container's
# memory limit cannot hold) and `make scale` (scripts/scale_workers.sh) read it from. Sourced; bash 3.2 too.

# The frontend's JVM beyond its heap and direct buffers (code, metaspace, threads, GC): 150-200 MiB measured.
JVM_OWN_MIB=256
# One worker at its peak under the heaviest accepted load, measured at 627-679 MiB in the pod rehearsal
# (torch and ONNX Runtime loaded, batches of the largest bodies and of the costliest accepted pictures).
WORKER_MIB=750
# Kept free beyond both: a limit is a hard wall (cgroup v2's memory.oom.group ends the whole container).
MARGIN_PERCENT=10

# mebibytes SIZE: a JVM size (768m, 1g, 2048k) in MiB.
mebibytes() {
    local number=${1%[kKmMgG]} unit=${1##*[0-9]}
    case $unit in
        k | K) echo $((number / 1024)) ;;
        m | M) echo "$number" ;;
        g | G) echo $((number * 1024)) ;;
        *) echo $((number / 1024 / 1024)) ;;
    esac
}

# frontend_mib VMARGS: the frontend's ceiling with these JVM options: heap, direct buffers and JVM_OWN_MIB.
frontend_mib() {
    local heap=0 direct=0 option
    for option in $1; do
        case $option in
            -Xmx*) heap=$(mebibytes "${option#-Xmx}") ;;
            -XX:MaxDirectMemorySize=*) direct=$(mebibytes "${option#*=}") ;;
        esac
    done
    ((direct > 0)) || direct=$heap  # the JVM's default: as much direct memory as heap
    echo $((heap + direct + JVM_OWN_MIB))
}

# workers_that_fit LIMIT_MIB FRONTEND_MIB: how many workers a memory limit holds beside that frontend.
workers_that_fit() {
    local usable=$(($1 * (100 - MARGIN_PERCENT) / 100 - $2))
    if ((usable < 0)); then echo 0; else echo $((usable / WORKER_MIB)); fi
}

# memory_for_workers COUNT FRONTEND_MIB: the smallest limit, in MiB, that holds COUNT workers.
memory_for_workers() {
    echo $((($1 * WORKER_MIB + $2) * 100 / (100 - MARGIN_PERCENT) + 1))
}
