#![no_main]

// One `data:` payload of a Letta server's run stream.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(chunk) = letta_api::stream::Chunk::parse(text)
    {
        chunk.message.is_lifecycle();
        chunk.message.tool_call_deltas();
    }
});
