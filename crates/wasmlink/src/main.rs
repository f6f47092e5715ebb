//! `pywrangler-wasmlink`: link `dylink.0` shared libraries into one core module from the shell
//! (how the CPython 3.14 guest is built). Exit 0 on success, 1 on a link failure, 2 on usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use pywrangler_wasmlink::{Input, Options, link};

const USAGE: &str = "\
usage: pywrangler-wasmlink [options] -o OUT.wasm NAME=LIB.so [NAME=LIB.so ...]

Links WebAssembly dylink.0 (PIC) shared libraries into one core module. Load order is
symbol precedence: the first input defining a symbol wins.

options:
  -o PATH             where to write the linked module (required)
  --stack-size BYTES  stack at the bottom of memory, a multiple of 16 (default 8388608)
  --keep A,B,...      exports to keep (repeatable); all others are dropped
  --keep-start        run the inputs' start functions at instantiation instead of dropping them
  --undefined-traps   bind undefined env functions to trapping stubs instead of failing
  --keep-unused       keep functions nothing reachable calls (default: drop them)
  --strip-exceptions  remove wasm exception handling (a throw traps) instead of refusing it
  --abi-prefix P      (before an input) its env imports X bind to PX where defined
  -h, --help          this help";

struct Args {
    out: PathBuf,
    /// (name, path, ABI prefix)
    inputs: Vec<(String, PathBuf, Option<String>)>,
    opts: Options,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Args>> {
    let mut out = None;
    let mut inputs = Vec::new();
    let mut opts = Options::default();
    let mut abi_prefix = None;
    while let Some(a) = args.next() {
        let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "-o" => out = Some(PathBuf::from(value("-o")?)),
            "--stack-size" => {
                let v = value("--stack-size")?;
                opts.stack_size = v
                    .parse()
                    .with_context(|| format!("--stack-size: `{v}` is not a byte count"))?;
            }
            "--keep" => opts.keep_exports.extend(
                value("--keep")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            ),
            "--keep-start" => opts.drop_start = false,
            "--undefined-traps" => opts.undefined_traps = true,
            "--keep-unused" => opts.remove_unused = false,
            "--strip-exceptions" => opts.strip_exceptions = true,
            "--abi-prefix" => abi_prefix = Some(value("--abi-prefix")?),
            s if s.starts_with('-') => bail!("unknown option `{s}`"),
            s => {
                let (name, path) = s
                    .split_once('=')
                    .with_context(|| format!("input `{s}` is not NAME=PATH"))?;
                inputs.push((name.to_string(), PathBuf::from(path), abi_prefix.take()));
            }
        }
    }
    let out = out.context("missing -o OUT.wasm")?;
    if inputs.is_empty() {
        bail!("no inputs: give NAME=LIB.so");
    }
    Ok(Some(Args { out, inputs, opts }))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let inputs = args
        .inputs
        .iter()
        .map(|(name, path, prefix)| {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let input = Input::new(name.clone(), bytes);
            Ok(match prefix {
                Some(p) => input.with_abi_prefix(p.clone()),
                None => input,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let t = Instant::now();
    let linked = link(&inputs, &args.opts)?;
    let took = t.elapsed();
    std::fs::write(&args.out, &linked.wasm)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("{} in {:.2?}", linked.report, took);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Option<Args>> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_map_to_options() {
        let a = parse(&[
            "--stack-size",
            "1024",
            "--keep",
            "memory,_initialize",
            "--keep",
            "pw_invoke",
            "--keep-start",
            "--undefined-traps",
            "--keep-unused",
            "--strip-exceptions",
            "-o",
            "out.wasm",
            "main=main.so",
            "--abi-prefix",
            "__em_",
            "py=lib/libpython3.14.so",
        ])
        .expect("parses")
        .expect("not help");
        assert_eq!(a.opts.stack_size, 1024);
        assert_eq!(a.opts.keep_exports, ["memory", "_initialize", "pw_invoke"]);
        assert!(!a.opts.drop_start && a.opts.undefined_traps && !a.opts.remove_unused);
        assert!(a.opts.strip_exceptions);
        assert_eq!(a.out, PathBuf::from("out.wasm"));
        assert_eq!(
            a.inputs,
            [
                ("main".to_string(), PathBuf::from("main.so"), None),
                (
                    "py".to_string(),
                    PathBuf::from("lib/libpython3.14.so"),
                    Some("__em_".to_string())
                )
            ]
        );
    }

    #[test]
    fn defaults_drop_start_and_unused() {
        let a = parse(&["-o", "o", "x=y"])
            .expect("parses")
            .expect("not help");
        assert!(a.opts.drop_start && !a.opts.undefined_traps && a.opts.remove_unused);
        assert_eq!(a.opts.stack_size, 8 * 1024 * 1024);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let e = parse(&["--stack-size", "big", "-o", "o", "x=y"])
            .err()
            .expect("error");
        assert!(e.to_string().contains("`big` is not a byte count"), "{e:#}");
        let e = parse(&["-o"]).err().expect("error");
        assert!(e.to_string().contains("-o needs a value"), "{e:#}");
        assert!(parse(&["--help"]).expect("help").is_none());
    }
}
