//! Many generated specs (fixed seed): every object aya-obj parses back to the same
//! maps, program and relocations, and our BTF decoder reads its `.BTF` back.

use object::read::elf::ElfFile64;
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};
use offload_ebpf::btf;
use offload_ebpf::elf::{
    map_type, write_object, DataType, Field, MapDef, MapReloc, ObjectSpec, ProgramSection,
};

/// xorshift64*: small, deterministic, good enough to vary specs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const TYPES: [u32; 8] = [
    map_type::HASH,
    map_type::ARRAY,
    map_type::PERCPU_HASH,
    map_type::PERCPU_ARRAY,
    map_type::LRU_HASH,
    map_type::LPM_TRIE,
    map_type::DEVMAP,
    map_type::DEVMAP_HASH,
];

fn random_map(rng: &mut Rng, i: usize) -> MapDef {
    let ty = TYPES[rng.below(TYPES.len() as u64) as usize];
    let key_size = [4u32, 8, 12, 16, 20][rng.below(5) as usize];
    let value_size = 4 * (1 + rng.below(16) as u32);
    let mut m = MapDef::sized(
        format!("m{i}_{}", rng.below(1000)),
        ty,
        key_size,
        value_size,
        1 + rng.below(1 << 20) as u32,
    );
    m.map_flags = rng.below(3) as u32;
    if map_type::accepts_key_value_btf(ty) && rng.below(2) == 0 {
        m.key_type = Some(DataType::Struct {
            name: None,
            size: key_size,
            fields: vec![
                Field {
                    name: "prefixlen".into(),
                    offset: 0,
                    ty: DataType::Uint { bytes: 4 },
                },
                Field {
                    name: "data".into(),
                    offset: 4,
                    ty: DataType::Bytes { len: key_size - 4 },
                },
            ],
        });
        m.value_type = Some(DataType::Bytes { len: value_size });
    }
    m
}

#[test]
fn generated_specs_round_trip_through_aya_obj() {
    let mut rng = Rng(0x0ff1_0ad5_eed5);
    for case in 0..300 {
        let maps: Vec<MapDef> = (0..rng.below(6) as usize)
            .map(|i| random_map(&mut rng, i))
            .collect();
        // A program of filler `r0 = 0` with map loads at random, non-overlapping slots.
        let len = 2 + rng.below(200) as usize;
        let mut slots = vec![[0xb7u8, 0, 0, 0, 0, 0, 0, 0]; len];
        slots[len - 1] = [0x95, 0, 0, 0, 0, 0, 0, 0];
        let mut relocs = Vec::new();
        let mut i = 0;
        while !maps.is_empty() && i + 2 < len {
            if rng.below(4) == 0 {
                let map = &maps[rng.below(maps.len() as u64) as usize];
                slots[i] = [0x18, 0x01, 0, 0, 0, 0, 0, 0];
                slots[i + 1] = [0; 8];
                relocs.push(MapReloc {
                    insn_index: i,
                    map: map.name.clone(),
                });
                i += 2;
            } else {
                i += 1;
            }
        }
        let insns = slots.concat();
        let section = if rng.below(2) == 0 {
            ProgramSection::Xdp
        } else {
            ProgramSection::Classifier
        };
        let spec = ObjectSpec {
            program_section: section,
            program_name: "p",
            insns: &insns,
            map_relocs: relocs.clone(),
            maps: maps.clone(),
            license: "GPL",
        };
        let bytes = write_object(&spec).unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(
            write_object(&spec).unwrap(),
            bytes,
            "case {case}: deterministic"
        );

        let obj = aya_obj::Object::parse(&bytes).unwrap_or_else(|e| panic!("case {case}: {e}"));
        assert_eq!(obj.maps.len(), maps.len(), "case {case}");
        for m in &maps {
            let got = &obj.maps[&m.name];
            assert_eq!(
                (
                    got.map_type(),
                    got.key_size(),
                    got.value_size(),
                    got.max_entries(),
                    got.map_flags()
                ),
                (
                    m.map_type,
                    m.key_size,
                    m.value_size,
                    m.max_entries,
                    m.map_flags
                ),
                "case {case}, map {}",
                m.name
            );
        }
        let func = &obj.functions[&obj.programs["p"].function_key()];
        assert_eq!(func.instructions.len(), len, "case {case}");

        let file = ElfFile64::<object::Endianness>::parse(&*bytes).unwrap();
        let prog = file
            .section_by_name(section.section_name())
            .expect("program section");
        let got: Vec<(u64, String)> = prog
            .relocations()
            .map(|(off, r)| {
                let RelocationTarget::Symbol(s) = r.target() else {
                    panic!("case {case}: non-symbol relocation")
                };
                (
                    off,
                    file.symbol_by_index(s).unwrap().name().unwrap().to_owned(),
                )
            })
            .collect();
        let want: Vec<(u64, String)> = relocs
            .iter()
            .map(|r| (r.insn_index as u64 * 8, r.map.clone()))
            .collect();
        assert_eq!(got, want, "case {case}");
        btf::decode(file.section_by_name(".BTF").unwrap().data().unwrap())
            .unwrap_or_else(|e| panic!("case {case}: {e}"));
    }
}
