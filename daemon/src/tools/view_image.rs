//! `ViewImage`: shows the model an image file from disk, as image content
//! in the tool result (which the Letta server accepts; the runtime offers
//! the tool only where the backend does).

use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use super::{ToolContext, ToolOutput};

/// Largest image sent: providers refuse base64 images past 5 MB, which is
/// about this many bytes before encoding. Images are not resized here.
pub const MAX_IMAGE_BYTES: u64 = 3_750_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewImageArgs {
    path: String,
}

/// The media type of an image the models read, by its first bytes.
fn media_type(head: &[u8]) -> Option<&'static str> {
    match head {
        [0x89, b'P', b'N', b'G', ..] => Some("image/png"),
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [b'G', b'I', b'F', b'8', ..] => Some("image/gif"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some("image/webp"),
        _ => None,
    }
}

pub fn run(args: ViewImageArgs, context: &ToolContext) -> Result<ToolOutput, String> {
    let path = super::resolve(&context.cwd, &args.path);
    let size = std::fs::metadata(&path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?
        .len();
    if size > MAX_IMAGE_BYTES {
        return Err(format!(
            "{} is {size} bytes, more than the {MAX_IMAGE_BYTES} an image may have; make a \
             smaller copy (fewer pixels, JPEG) and view that",
            path.display()
        ));
    }
    let bytes =
        std::fs::read(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let Some(media_type) = media_type(&bytes) else {
        return Err(format!(
            "{} is not a PNG, JPEG, GIF or WebP image; convert it to one of those first",
            path.display()
        ));
    };
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let text = format!(
        "[Image: {name}, {media_type}, {} KB]",
        bytes.len().div_ceil(1024)
    );
    let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
    Ok(ToolOutput {
        content: Some(json!([
            { "type": "text", "text": text },
            { "type": "image", "source": { "type": "base64", "media_type": media_type, "data": data } },
        ])),
        ..ToolOutput::ok(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest PNG: one transparent pixel.
    const PIXEL: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    fn view(path: &str, context: &ToolContext) -> Result<ToolOutput, String> {
        run(ViewImageArgs { path: path.into() }, context)
    }

    #[test]
    fn an_image_becomes_image_content() {
        let dir = tempfile::tempdir().unwrap();
        let context = ToolContext::in_dir(dir.path());
        std::fs::write(dir.path().join("dot.png"), PIXEL).unwrap();
        let out = view("dot.png", &context).unwrap();
        assert_eq!(out.text, "[Image: dot.png, image/png, 1 KB]");
        let content = out.content.unwrap();
        assert_eq!(content[1]["source"]["media_type"], "image/png");
        let data = content[1]["source"]["data"].as_str().unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
            PIXEL
        );
    }

    #[test]
    fn what_is_not_a_readable_image_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let context = ToolContext::in_dir(dir.path());
        std::fs::write(dir.path().join("notes.png"), "not an image").unwrap();
        assert!(
            view("notes.png", &context)
                .unwrap_err()
                .contains("not a PNG")
        );
        assert!(
            view("missing.png", &context)
                .unwrap_err()
                .contains("cannot read")
        );
        let big = std::fs::File::create(dir.path().join("big.png")).unwrap();
        big.set_len(MAX_IMAGE_BYTES + 1).unwrap();
        assert!(
            view("big.png", &context)
                .unwrap_err()
                .contains("smaller copy")
        );
    }
}
