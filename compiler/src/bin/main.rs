//! `mobilenet-compiler`: inspect a spec, write random weights for it, or import a Keras model.
#![forbid(unsafe_code)]

use mobilenet_compiler::init_weights::init_weights_dtype;
use mobilenet_compiler::summary::summary;
use mobilenet_compiler::{compile_file, compile_str, Error};
use safetensors::Dtype;
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "\
mobilenet-compiler: the MobileNetV2 ahead-of-time compiler's command line

USAGE:
    mobilenet-compiler summary SPEC [--threads N]
        Compile SPEC (a YAML spec; its `weights`, if named, are read and checked) and print
        every layer's output shape, parameters and MACs, the totals and the memory plan.
        With --threads N, also how forward_parallel splits each step across N threads.

    mobilenet-compiler init-weights SPEC --seed N -o FILE [--dtype f32|f16|bf16]
        Write random weights for SPEC under torchvision's names to FILE (safetensors).
        The spec's `weights` key, if any, is ignored. --dtype defaults to f32.

    mobilenet-compiler import-keras MODEL.keras|MODEL.h5 --name NAME --out DIR [--resolution H|HxW]
        Convert a Keras MobileNetV2 (keras.applications.MobileNetV2, any alpha and input size,
        with its own classifier or nested in a model that adds pooling, dropout and a Dense
        layer) into DIR/model.yaml and DIR/weights.safetensors (torchvision's names), and
        check that the spec compiles with those weights. NAME is the model's Rust type name.
        --resolution gives the input size to compile for when the model was saved without one.

    mobilenet-compiler --help
        Print this message.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), Error> {
    let Some((command, rest)) = args.split_first() else {
        return print(USAGE);
    };
    match command.as_str() {
        "-h" | "--help" | "help" => print(USAGE),
        "summary" => cmd_summary(rest),
        "init-weights" => cmd_init_weights(rest),
        "import-keras" => cmd_import_keras(rest),
        other => Err(Error::new(format!(
            "unknown command `{other}`; expected `summary`, `init-weights` or `import-keras` (see `mobilenet-compiler --help`)"
        ))),
    }
}

/// Write to stdout; a closed pipe (`| head`) ends the program quietly.
fn print(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::new(format!("cannot write to stdout: {e}"))),
    }
}

fn cmd_summary(args: &[String]) -> Result<(), Error> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return print(USAGE);
    }
    let (spec, threads) = match args {
        [spec] if !spec.starts_with('-') => (spec, None),
        [spec, flag, n] if !spec.starts_with('-') && flag == "--threads" => match n.parse::<usize>() {
            Ok(n) if (1..=1024).contains(&n) => (spec, Some(n)),
            _ => return Err(Error::new(format!("--threads takes a number from 1 to 1024, found `{n}`"))),
        },
        [] => return Err(Error::new("`summary` needs a spec: mobilenet-compiler summary SPEC [--threads N]")),
        _ => {
            return Err(Error::new(format!(
                "`summary` takes the spec path and optionally --threads N, found {} arguments: mobilenet-compiler summary SPEC [--threads N]",
                args.len()
            )))
        }
    };
    let base = std::env::current_dir().map_err(|e| Error::new(format!("cannot read the current directory: {e}")))?;
    let compiled = compile_file(&base, spec)?;
    let mut text = summary(&compiled.program, compiled.int8.as_ref().map(|(q, _)| q));
    if let Some(n) = threads {
        text.push('\n');
        text.push_str(&mobilenet_compiler::work_split::report(&compiled.program, n, compiled.int8.is_some()));
    }
    print(&text)
}

fn cmd_init_weights(args: &[String]) -> Result<(), Error> {
    let usage = "mobilenet-compiler init-weights SPEC --seed N -o FILE [--dtype f32|f16|bf16]";
    let mut spec = None;
    let mut seed = None;
    let mut output = None;
    let mut dtype = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        // `--opt value` and `--opt=value` both work.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let slot = match flag {
            "-h" | "--help" => return print(USAGE),
            "--seed" => &mut seed,
            "-o" | "--output" => &mut output,
            "--dtype" => &mut dtype,
            f if f.starts_with('-') && f.len() > 1 => {
                return Err(Error::new(format!("unknown option `{f}` for `init-weights`; usage: {usage}")))
            }
            _ => {
                if spec.is_some() {
                    return Err(Error::new(format!(
                        "`init-weights` takes one spec, found a second: `{arg}`; usage: {usage}"
                    )));
                }
                spec = Some(arg.clone());
                continue;
            }
        };
        let value = match inline {
            Some(v) => v,
            None => it.next().cloned().ok_or_else(|| Error::new(format!("`{flag}` needs a value; usage: {usage}")))?,
        };
        if slot.replace(value).is_some() {
            return Err(Error::new(format!("`{flag}` is given twice; usage: {usage}")));
        }
    }
    let spec = spec.ok_or_else(|| Error::new(format!("`init-weights` needs a spec; usage: {usage}")))?;
    let seed = seed.ok_or_else(|| Error::new(format!("`init-weights` needs `--seed N`; usage: {usage}")))?;
    let seed: u64 = seed
        .parse()
        .map_err(|_| Error::new(format!("`--seed` must be a whole number from 0 to {}, found `{seed}`", u64::MAX)))?;
    let output = output.ok_or_else(|| Error::new(format!("`init-weights` needs `-o FILE`; usage: {usage}")))?;
    let dtype = match dtype.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("f32") => Dtype::F32,
        Some("f16") => Dtype::F16,
        Some("bf16") => Dtype::BF16,
        Some(_) => {
            return Err(Error::new(format!(
                "`--dtype` must be f32, f16 or bf16, found `{}`",
                dtype.unwrap_or_default()
            )))
        }
    };

    let text = std::fs::read_to_string(&spec).map_err(|e| Error::new(format!("cannot read spec `{spec}`: {e}")))?;
    let program = compile_str(&spec, &text)?;
    let bytes = init_weights_dtype(&program.network, seed, dtype);
    std::fs::write(&output, &bytes).map_err(|e| Error::new(format!("cannot write `{output}`: {e}")))?;
    eprintln!(
        "wrote {output}: random {dtype:?} weights for {} ({} parameters, seed {seed}, {} bytes)",
        program.network.spec.name,
        program.network.torch_params(),
        bytes.len()
    );
    Ok(())
}

/// A command's arguments: positional ones, and the value of each option it takes.
#[cfg(feature = "keras")]
struct Parsed {
    positional: Vec<String>,
    values: Vec<Option<String>>,
}

/// Split `args` of `command` into positional arguments and the values of `flags` (each given
/// at most once, as `--opt value` or `--opt=value`); `None` for `--help`.
#[cfg(feature = "keras")]
fn parse_options(command: &str, usage: &str, args: &[String], flags: &[&str]) -> Result<Option<Parsed>, Error> {
    let mut parsed = Parsed { positional: Vec::new(), values: vec![None; flags.len()] };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let Some(slot) = flags.iter().position(|f| *f == flag) else {
            if flag.starts_with('-') && flag.len() > 1 {
                return Err(Error::new(format!("unknown option `{flag}` for `{command}`; usage: {usage}")));
            }
            parsed.positional.push(arg.clone());
            continue;
        };
        let value = match inline {
            Some(v) => v,
            None => it.next().cloned().ok_or_else(|| Error::new(format!("`{flag}` needs a value; usage: {usage}")))?,
        };
        if parsed.values[slot].replace(value).is_some() {
            return Err(Error::new(format!("`{flag}` is given twice; usage: {usage}")));
        }
    }
    Ok(Some(parsed))
}

#[cfg(feature = "keras")]
fn cmd_import_keras(args: &[String]) -> Result<(), Error> {
    use mobilenet_compiler::keras;
    let usage = "mobilenet-compiler import-keras MODEL.keras|MODEL.h5 --name NAME --out DIR [--resolution H|HxW]";
    let flags = ["--name", "--out", "--resolution"];
    let Some(Parsed { positional, values }) = parse_options("import-keras", usage, args, &flags)? else {
        return print(USAGE);
    };
    let model = match positional.as_slice() {
        [model] => model,
        [] => return Err(Error::new(format!("`import-keras` needs a model file; usage: {usage}"))),
        [_, extra, ..] => {
            return Err(Error::new(format!(
                "`import-keras` takes one model file, found a second: `{extra}`; usage: {usage}"
            )))
        }
    };
    let [name, out, resolution] = [&values[0], &values[1], &values[2]];
    let resolution = resolution.as_deref().map(|r| parse_resolution(r, usage)).transpose()?;
    let name =
        name.as_deref().ok_or_else(|| Error::new(format!("`import-keras` needs `--name NAME`; usage: {usage}")))?;
    let out = out.as_deref().ok_or_else(|| Error::new(format!("`import-keras` needs `--out DIR`; usage: {usage}")))?;
    let out = std::path::Path::new(out);
    let imported = keras::import(std::path::Path::new(model), name, out, resolution)?;
    let plan = &imported.plan;
    eprintln!(
        "wrote {} and {}: {name}, from Keras model `{}` ({}x{} input, width_mult {}, {} classes{}, {} parameters)",
        out.join(keras::SPEC_FILE).display(),
        out.join(keras::WEIGHTS_FILE).display(),
        plan.model,
        plan.height,
        plan.width,
        imported.width_mult,
        plan.classes,
        if plan.softmax { ", softmax left out" } else { "" },
        imported.params
    );
    Ok(())
}

/// `--resolution`: `H` (square) or `HxW`.
#[cfg(feature = "keras")]
fn parse_resolution(text: &str, usage: &str) -> Result<(usize, usize), Error> {
    let side = |s: &str| s.trim().parse::<usize>().ok().filter(|&v| v >= 1);
    let parsed = match text.split_once(['x', 'X']) {
        Some((h, w)) => side(h).zip(side(w)),
        None => side(text).map(|s| (s, s)),
    };
    parsed.ok_or_else(|| {
        Error::new(format!("--resolution must be H or HxW with positive integers, found {text:?}; usage: {usage}"))
    })
}

#[cfg(not(feature = "keras"))]
fn cmd_import_keras(_args: &[String]) -> Result<(), Error> {
    Err(Error::new(
        "this mobilenet-compiler was built without the `keras` feature; rebuild it with `--features keras` to import Keras models",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    fn err(s: &[&str]) -> String {
        run(&args(s)).unwrap_err().to_string()
    }

    #[test]
    fn bad_arguments_are_errors_not_panics() {
        assert!(err(&["frobnicate"]).contains("unknown command `frobnicate`"));
        assert!(err(&["summary"]).contains("needs a spec"));
        assert!(err(&["summary", "a", "b"]).contains("optionally --threads N"));
        assert!(err(&["summary", "a", "--threads", "0"]).contains("from 1 to 1024"));
        assert!(err(&["summary", "a", "--threads", "x"]).contains("from 1 to 1024"));
        assert!(err(&["init-weights", "s.yaml", "-o", "x"]).contains("needs `--seed N`"));
        assert!(err(&["init-weights", "s.yaml", "--seed", "1"]).contains("needs `-o FILE`"));
        assert!(err(&["init-weights", "--seed", "1", "-o", "x"]).contains("needs a spec"));
        assert!(err(&["init-weights", "s.yaml", "--seed", "-1", "-o", "x"]).contains("whole number"));
        assert!(err(&["init-weights", "s.yaml", "--seed", "1", "--seed=2", "-o", "x"]).contains("given twice"));
        assert!(
            err(&["init-weights", "s.yaml", "--seed", "1", "-o", "x", "--dtype", "f64"]).contains("f32, f16 or bf16")
        );
        assert!(err(&["init-weights", "s.yaml", "--seed"]).contains("needs a value"));
        assert!(err(&["init-weights", "s.yaml", "--what"]).contains("unknown option `--what`"));
        assert!(err(&["init-weights", "/nonexistent/s.yaml", "--seed", "1", "-o", "x"]).contains("cannot read spec"));
    }

    #[cfg(feature = "keras")]
    #[test]
    fn bad_import_keras_arguments_are_errors_not_panics() {
        assert!(err(&["import-keras"]).contains("needs a model file"));
        assert!(err(&["import-keras", "m.keras", "--out", "d"]).contains("needs `--name NAME`"));
        assert!(err(&["import-keras", "m.keras", "--name", "M"]).contains("needs `--out DIR`"));
        assert!(err(&["import-keras", "a.keras", "b.keras", "--name", "M", "--out", "d"]).contains("found a second"));
        assert!(err(&["import-keras", "m.keras", "--name", "M", "--name=N", "--out", "d"]).contains("given twice"));
        assert!(err(&["import-keras", "m.keras", "--name"]).contains("needs a value"));
        assert!(err(&["import-keras", "m.keras", "--what"]).contains("unknown option `--what`"));
        assert!(err(&["import-keras", "/nonexistent/m.keras", "--name", "M", "--out", "d"]).contains("cannot read"));
        assert!(err(&["import-keras", "m.keras", "--name", "not a type", "--out", "d"]).contains("Rust type name"));
        for bad in ["0", "12x", "x12", "-3", "12x0", "big"] {
            let e = err(&["import-keras", "m.keras", "--name", "M", "--out", "d", "--resolution", bad]);
            assert!(e.contains("--resolution must be H or HxW"), "{bad}: {e}");
        }
        assert_eq!(parse_resolution("96", "").unwrap(), (96, 96));
        assert_eq!(parse_resolution("160x96", "").unwrap(), (160, 96));
    }

    #[test]
    fn init_weights_writes_weights_the_loader_accepts() {
        let dir = std::env::temp_dir().join(format!("mobilenet-compiler-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = dir.join("t.yaml");
        // `weights` names a file that does not exist: init-weights must not need it.
        let text = "name: T\nresolution: 17\nwidth_mult: 0.25\nnum_classes: 4\nweights: missing.safetensors\n";
        std::fs::write(&spec, text).unwrap();
        let out = dir.join("t.safetensors");
        for (dtype, stored) in
            [("f32", safetensors::Dtype::F32), ("f16", safetensors::Dtype::F16), ("BF16", safetensors::Dtype::BF16)]
        {
            let (spec, out) = (spec.display().to_string(), out.display().to_string());
            run(&args(&["init-weights", &spec, "--seed=5", "-o", &out, "--dtype", dtype])).unwrap();
            let program = compile_str("t.yaml", text).unwrap();
            let bytes = std::fs::read(&out).unwrap();
            program.params.fold(&bytes).unwrap();
            // Floats in the dtype asked for (BatchNorm's int64 counter aside).
            let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let dtypes: Vec<_> =
                st.tensors().into_iter().map(|(_, t)| t.dtype()).filter(|d| *d != safetensors::Dtype::I64).collect();
            assert!(!dtypes.is_empty() && dtypes.iter().all(|d| *d == stored), "{dtype}: {dtypes:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
