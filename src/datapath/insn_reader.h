// Reads what a BPF object's programs need from their instructions, without loading them: helper
// calls, maps referenced (through ld_imm64 map relocations), the constant return codes, and a list
// of what could not be determined. Used to check the built-in programs against their manifests and
// by the planner to derive the requirements of a user-supplied program (custom-program).
//
// Works on the object as libbpf opens it (bpf_object__open, bpf_program__insns, bpf_map__type) plus
// the ELF symbol and relocation tables, which libbpf does not expose before load. Needs no
// privileges and no kernel.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace xb::datapath {

struct MapReference {
    std::string name;            // map name ("xb_flow_slots"), or the data section (".rodata")
    enum bpf_map_type type = BPF_MAP_TYPE_UNSPEC;
    bool global_data = false;    // .rodata/.data/.bss: an array map libbpf creates
};

struct ProgramInsns {
    std::string name;      // function name
    std::string section;   // ELF section, e.g. "xdp"
    enum bpf_prog_type type = BPF_PROG_TYPE_UNSPEC;
    size_t insn_count = 0;                 // of the program itself (subprograms not included)
    std::vector<int> helpers;              // helper ids (enum bpf_func_id), sorted, unique; subprograms included
    std::vector<MapReference> maps;        // distinct maps referenced, subprograms included
    std::vector<int64_t> return_codes;     // every constant the program may return, sorted
    std::vector<std::string> subprograms;  // functions it calls (BPF-to-BPF calls)
    // Each thing the reader could not determine, one sentence each (e.g. a computed return value,
    // a kfunc call). Empty means the lists above are complete.
    std::vector<std::string> undetermined;

    std::vector<enum bpf_map_type> map_types() const;  // sorted, unique
    bool returns_only_constants() const;               // no computed return value
};

// Every program (entry point) of an object file.
Result<std::vector<ProgramInsns>> read_object_file(const std::string& path);
// The same for an object in memory (e.g. a skeleton's embedded ELF); name is used in messages.
Result<std::vector<ProgramInsns>> read_object_memory(const void* data, size_t size, std::string_view name);

// Name of a helper id ("bpf_map_lookup_elem") or "helper#N" when unknown to this build.
std::string helper_name(int id);
std::string_view map_type_name(enum bpf_map_type type);  // libbpf's name ("percpu_hash")

}  // namespace xb::datapath
