//! `yoe init DIR`: write a small working project.
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use super::{Global, exit, output};

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Directory to create (must not exist or be empty).
    pub dir: PathBuf,
}

const FILES: &[(&str, &str)] = &[
    (
        "PROJECT.star",
        r#"project(
    name = "{name}",
    version = "0.1.0",
    defaults = defaults(machine = "qemu-x86_64", image = "base-image"),
)
"#,
    ),
    (
        "machines/qemu-x86_64.star",
        r#"machine(
    name = "qemu-x86_64",
    arch = "x86_64",
    description = "QEMU x86_64 virtual machine",
    partitions = [partition(label = "rootfs", type = "ext4", size = "64M", root = True)],
)
"#,
    ),
    (
        "classes/c_program.star",
        r#"def c_program(name, version, sources, deps = [], **kwargs):
    """A C program compiled from the unit's files with the host toolchain."""
    unit(
        name = name,
        version = version,
        deps = deps,
        tasks = [task("build", steps = [
            "cc $CFLAGS -o " + name + " " + " ".join(sources) + " $LDFLAGS",
            "install -D -m 0755 " + name + " $DESTDIR$PREFIX/bin/" + name,
        ])],
        **kwargs
    )
"#,
    ),
    (
        "units/hello.star",
        r#"load("//classes/c_program.star", "c_program")

c_program(name = "hello", version = "1.0", sources = ["hello.c"], license = "MIT")
"#,
    ),
    (
        "units/hello/hello.c",
        "#include <stdio.h>\n\nint main(void) {\n    puts(\"hello from yoe\");\n    return 0;\n}\n",
    ),
    (
        "images/base-image.star",
        r#"image(name = "base-image", version = "0.1.0", artifacts = ["hello"])
"#,
    ),
];

pub fn run(_g: &Global, a: InitArgs) -> anyhow::Result<u8> {
    if a.dir.exists() && a.dir.read_dir().map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not empty; choose a new directory", a.dir.display());
    }
    let name = a
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or_else(|| "my-project".to_string());
    for (path, text) in FILES {
        let p = a.dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, text.replace("{name}", &name)).with_context(|| format!("writing {}", p.display()))?;
    }
    output::line(&format!("created project {name:?} in {}", a.dir.display()));
    Ok(exit::OK)
}
