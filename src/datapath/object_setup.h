// What the two bypass program loaders (program.cpp: xbypass's own table; suricata_maps.cpp:
// Suricata's maps) do alike with their BPF object: keep one program variant, size or drop the
// action maps (cpumap, IPS devmap) before load and fill them after, sum the per-CPU counters, find
// fds by name. Internal to datapath/.
#pragma once

#include <string>
#include <string_view>

#include "common/diagnostic.h"
#include "common/result.h"
#include "datapath/program.h"

struct bpf_map;
struct bpf_object;

namespace xb::datapath::detail {

unsigned possible_cpu_count();

// A load error as an Error and as a diagnostic (code, cause with the errno's text, hint).
Error load_error(Diagnostics& diags, const char* code, int err, std::string what, std::string hint);

// Only `program` is loaded; the object's other variants never reach the verifier.
void keep_only_program(bpf_object* obj, std::string_view program);

// Before load: with cpu redirect the cpumap has a slot per possible CPU, without it is not created;
// the IPS devmap is created for an XDP IPS program only. 0 or a negative errno (libbpf's).
int prepare_action_maps(bpf_map* cpu_map, bpf_map* ips_devmap, const ProgramOptions& options, unsigned possible_cpus);

// After load: the redirect CPUs into the cpumap (XB3012) and the IPS peer into the devmap (XB3013,
// XDP only).
Status fill_action_maps(bpf_map* cpu_map, bpf_map* ips_devmap, const ProgramOptions& options, Diagnostics& diags);

// The per-CPU struct xb_counters block of map fd, summed.
Result<Counters> sum_counters(int fd, unsigned possible_cpus);

// Fds by name in a loaded object; -1 when absent or not created.
int program_fd(bpf_object* obj, std::string_view program);
int map_fd(bpf_object* obj, std::string_view name);

}  // namespace xb::datapath::detail
