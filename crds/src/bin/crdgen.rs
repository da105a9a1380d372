//! `crdgen`: prints every Backrunner CRD as multi-document YAML, or rewrites `crds/yaml/` with `--write`.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: crdgen [--write [DIR]]\n\
    \n  without arguments: print every CRD as one multi-document YAML stream\
    \n  --write [DIR]:     write one file per CRD into DIR (default: the crate's yaml/ directory)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => print_all(),
        ["--write"] => write_all(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("yaml")),
        ["--write", dir] => write_all(PathBuf::from(dir)),
        ["-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crdgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_all() -> Result<(), String> {
    let yaml = backrunner_crds::render_all_yaml().map_err(|e| e.to_string())?;
    print!("{yaml}");
    Ok(())
}

fn write_all(dir: PathBuf) -> Result<(), String> {
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for file in backrunner_crds::crds() {
        let yaml = backrunner_crds::render_yaml(&file.crd).map_err(|e| e.to_string())?;
        let path = dir.join(file.file_name);
        std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
