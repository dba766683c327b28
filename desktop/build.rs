use std::path::Path;

fn main() {
    // `tauri::generate_context!` embeds `ui/dist`; say how to produce it instead of a macro panic.
    let index = Path::new("ui/dist/index.html");
    if !index.exists() {
        panic!(
            "desktop/ui/dist/index.html is missing: build the frontend first \
             (`npm ci && npm run build` in desktop/ui, or run scripts/test-desktop.sh)"
        );
    }
    println!("cargo:rerun-if-changed=ui/dist");
    tauri_build::build();
}
