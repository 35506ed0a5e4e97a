//! The embedded database browser: the files of `proxy/ui/`, compressed once
//! (gzip and brotli) and served with ETags. Assets live under
//! `assets/<version>/`, where the version hashes every file, so browsers keep
//! them for a year; `index.html` is revalidated on every load and names the
//! current version.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::http::{Request, Response};

#[derive(rust_embed::Embed)]
#[folder = "ui/"]
struct Files;

/// One file, ready in each encoding.
struct Asset {
    content_type: &'static str,
    raw: Bytes,
    gzip: Bytes,
    brotli: Bytes,
    etag: String,
}

/// Every file, by path, and the version naming this set.
struct Ui {
    version: String,
    index: Asset,
    assets: HashMap<String, Asset>,
}

/// The placeholder in `index.html` replaced by `assets/<version>`.
const ASSETS_PLACEHOLDER: &str = "{{assets}}";

fn ui() -> &'static Ui {
    static UI: OnceLock<Ui> = OnceLock::new();
    UI.get_or_init(|| {
        let mut all = Sha256::new();
        let mut assets = HashMap::new();
        let mut names: Vec<String> = Files::iter().map(|n| n.into_owned()).collect();
        names.sort();
        for name in names.iter().filter(|n| *n != "index.html") {
            let file = Files::get(name).expect("listed files exist");
            all.update(name.as_bytes());
            all.update(&file.data);
            assets.insert(name.clone(), asset(name, file.data.into_owned()));
        }
        let version = hex::encode(&all.finalize()[..6]);
        let index = Files::get("index.html").expect("proxy/ui/index.html is embedded");
        let index = String::from_utf8_lossy(&index.data).replace(ASSETS_PLACEHOLDER, &format!("assets/{version}"));
        Ui { index: asset("index.html", index.into_bytes()), version, assets }
    })
}

fn asset(name: &str, raw: Vec<u8>) -> Asset {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&raw).expect("writing to memory");
    let gzip = gzip.finish().expect("writing to memory");
    let mut brotli = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut brotli, 4096, 11, 22);
        writer.write_all(&raw).expect("writing to memory");
    }
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&raw)[..8]));
    let content_type = match mime_guess::from_path(name).first_raw() {
        Some("text/html") => "text/html; charset=utf-8",
        Some("text/css") => "text/css; charset=utf-8",
        Some("text/javascript" | "application/javascript") => "text/javascript; charset=utf-8",
        Some(other) => other,
        None => "application/octet-stream",
    };
    Asset { content_type, raw: raw.into(), gzip: gzip.into(), brotli: brotli.into(), etag }
}

/// Answers `/` and `/assets/<version>/<file>`; `None` for any other path.
pub fn handle(request: &Request, frame_ancestors: &str) -> Option<Response> {
    let ui = ui();
    let path = request.path.as_str();
    if path == "/" || path == "/index.html" {
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             frame-src 'self'; frame-ancestors {frame_ancestors}; base-uri 'none'; form-action 'self'"
        );
        return Some(serve(request, &ui.index, "no-cache").header("content-security-policy", csp));
    }
    let rest = path.strip_prefix("/assets/")?;
    let (version, name) = rest.split_once('/')?;
    let asset = ui.assets.get(name).filter(|_| version == ui.version)?;
    Some(serve(request, asset, "public, max-age=31536000, immutable"))
}

fn serve(request: &Request, asset: &Asset, cache: &'static str) -> Response {
    let fresh = request.header("if-none-match").is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag));
    let response = if fresh {
        Response::new(304, asset.content_type, Bytes::new())
    } else {
        let accepts = |coding: &str| {
            request.header("accept-encoding").unwrap_or_default().split(',').any(|part| {
                let mut pieces = part.split(';').map(str::trim);
                pieces.next() == Some(coding) && pieces.all(|p| p.replace(' ', "") != "q=0")
            })
        };
        if accepts("br") {
            Response::new(200, asset.content_type, asset.brotli.clone()).header("content-encoding", "br")
        } else if accepts("gzip") {
            Response::new(200, asset.content_type, asset.gzip.clone()).header("content-encoding", "gzip")
        } else {
            Response::new(200, asset.content_type, asset.raw.clone())
        }
    };
    response.header("etag", &asset.etag).header("cache-control", cache).header("vary", "Accept-Encoding")
}
