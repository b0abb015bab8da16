#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    letta_ctl::fuzzing::acp_stdin(data);
});
