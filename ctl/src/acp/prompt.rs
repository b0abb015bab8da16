//! What an editor's prompt becomes for the agent: its text and resources
//! as one message text, its images as Letta's image parts, bounded.

use serde_json::{Value, json};

/// The text of an ACP prompt, for the agent's message: text as it is,
/// resources with their URI and content.
pub fn prompt_text(blocks: &[Value]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => parts.push(block["text"].as_str().unwrap_or_default().to_owned()),
            Some("resource_link") => parts.push(format!(
                "[{}]({})",
                block["name"].as_str().unwrap_or("file"),
                block["uri"].as_str().unwrap_or_default()
            )),
            Some("resource") => {
                let resource = &block["resource"];
                let uri = resource["uri"].as_str().unwrap_or_default();
                match resource["text"].as_str() {
                    Some(text) => parts.push(format!("<file uri=\"{uri}\">\n{text}\n</file>")),
                    None => parts.push(format!("[binary resource {uri}]")),
                }
            }
            _ => {}
        }
    }
    parts.join("\n\n")
}

/// Largest image passed on, base64 included (model providers take ~5 MB).
const MAX_IMAGE_CHARS: usize = 7 * 1024 * 1024;
/// All of a prompt's images, within the daemon's 16 MiB message.
const MAX_IMAGES_CHARS: usize = 12 * 1024 * 1024;

/// The images of an ACP prompt as Letta's image content parts.
pub fn prompt_images(blocks: &[Value]) -> Result<Vec<Value>, String> {
    let mut images = Vec::new();
    let mut total = 0;
    for block in blocks.iter().filter(|block| block["type"] == "image") {
        let (Some(data), Some(media_type)) = (block["data"].as_str(), block["mimeType"].as_str())
        else {
            return Err("an image needs its data and mimeType".to_owned());
        };
        if data.len() > MAX_IMAGE_CHARS {
            return Err(format!(
                "an image of {} KiB is larger than the {} KiB passed on",
                data.len() / 1024,
                MAX_IMAGE_CHARS / 1024
            ));
        }
        total += data.len();
        if total > MAX_IMAGES_CHARS {
            return Err(format!(
                "the prompt's images are larger than the {} KiB passed on",
                MAX_IMAGES_CHARS / 1024
            ));
        }
        images.push(json!({
            "type": "image",
            "source": { "type": "base64", "media_type": media_type, "data": data },
        }));
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_become_letta_image_parts() {
        let images = prompt_images(&[
            json!({"type": "text", "text": "What is this?"}),
            json!({"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"}),
        ])
        .unwrap();
        assert_eq!(
            images,
            [
                json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})
            ]
        );
        assert!(prompt_images(&[json!({"type": "image", "data": "x"})]).is_err());
        let big = "A".repeat(MAX_IMAGE_CHARS + 1);
        let refused =
            prompt_images(&[json!({"type": "image", "data": big, "mimeType": "image/png"})]);
        assert!(refused.unwrap_err().contains("larger than"));
    }

    #[test]
    fn prompts_keep_text_and_resources() {
        let text = prompt_text(&[
            json!({"type": "text", "text": "Look at"}),
            json!({"type": "resource_link", "name": "a.rs", "uri": "file:///p/a.rs"}),
            json!({"type": "resource", "resource": {"uri": "file:///p/b.rs", "text": "fn b() {}"}}),
        ]);
        assert_eq!(
            text,
            "Look at\n\n[a.rs](file:///p/a.rs)\n\n<file uri=\"file:///p/b.rs\">\nfn b() {}\n</file>"
        );
    }
}
