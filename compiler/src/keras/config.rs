//! The Keras model config (JSON) as one flat list of layers in graph order: nested models
//! (`Functional`, `Model`, `Sequential`) are expanded in place, and each layer's inputs are
//! resolved through them, so a base model nested in a transfer-learning model reads like the
//! stock one. Each layer also gets the places its weights live in both file formats. [`Cfg`]
//! reads a layer's config entries and reports a value MobileNetV2 does not have against the layer.

use crate::Error;
use serde_json::Value;
use std::collections::HashMap;

/// One layer of the flattened model.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Keras class, e.g. `Conv2D`.
    pub class: String,
    pub name: String,
    /// The layer's `config` object.
    pub config: Value,
    /// Unique id (`scope/name`) of this layer and of the layers feeding it.
    pub id: String,
    pub inputs: Vec<String>,
    /// The innermost model holding this layer.
    pub model: String,
    /// Its group in a legacy `.h5`: `model_weights/<top-level layer>/<layer>`.
    pub h5_group: String,
    /// Its group in a `.keras` weights file: `layers/<auto name>` (nested: `.../layers/...`).
    pub keras_group: String,
}

/// The flattened model: its layers and the id of the layer whose output is the model's output.
#[derive(Debug)]
pub struct Flat {
    pub layers: Vec<Layer>,
    pub output: String,
}

/// Parse the config JSON and flatten it.
pub fn flatten(json: &str) -> Result<Flat, Error> {
    let root: Value =
        serde_json::from_str(json).map_err(|e| Error::new(format!("the model config is not valid JSON: {e}")))?;
    let mut walk = Walk { layers: Vec::new(), alias: HashMap::new(), scopes: 0 };
    let output = walk.model(&root, None, "", None)?;
    let output = walk.resolve(&output);
    Ok(Flat { layers: walk.layers, output })
}

struct Walk {
    layers: Vec<Layer>,
    /// Ids that stand for another layer's output: a nested model (its output layer) and a nested
    /// model's input layer (whatever feeds the nested model).
    alias: HashMap<String, String>,
    scopes: usize,
}

fn is_model(class: &str) -> bool {
    matches!(class, "Functional" | "Model" | "Sequential")
}

impl Walk {
    fn resolve(&self, id: &str) -> String {
        let mut id = id.to_string();
        // Bounded: each alias points at a layer seen earlier.
        for _ in 0..=self.alias.len() {
            match self.alias.get(&id) {
                Some(next) => id = next.clone(),
                None => break,
            }
        }
        id
    }

    /// Flatten one model. `top` is the top-level layer holding it (the `.h5` group its weights
    /// live in), `prefix` its `.keras` group, `fed_by` what feeds it when it is nested. Returns
    /// the id of its output.
    fn model(&mut self, model: &Value, top: Option<&str>, prefix: &str, fed_by: Option<&str>) -> Result<String, Error> {
        let class = str_field(model, "class_name").unwrap_or("");
        let config = model.get("config").unwrap_or(&Value::Null);
        let name = str_field(config, "name").unwrap_or("model").to_string();
        let Some(layers) = config.get("layers").and_then(Value::as_array) else {
            return Err(Error::new(format!(
                "the model config has no layer list (class `{class}`); expected a Keras Functional or Sequential model"
            )));
        };
        let scope = self.scopes;
        self.scopes += 1;
        let sequential = class == "Sequential";
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut previous: Option<String> = fed_by.map(str::to_string);
        let mut last = None;
        for layer in layers {
            let class = str_field(layer, "class_name").unwrap_or("").to_string();
            let layer_config = layer.get("config").cloned().unwrap_or(Value::Null);
            let lname = str_field(layer, "name").or_else(|| str_field(&layer_config, "name")).unwrap_or("").to_string();
            if lname.is_empty() {
                return Err(Error::new(format!("a `{class}` layer of model `{name}` has no name")));
            }
            let id = format!("{scope}/{lname}");
            let inputs: Vec<String> = if sequential {
                previous.iter().cloned().collect()
            } else {
                inbound(layer, &lname)?.into_iter().map(|n| self.resolve(&format!("{scope}/{n}"))).collect()
            };
            // Keras 3 names each layer's weights group after its class, counted per model:
            // `conv2d`, `conv2d_1`, ... (`saving_lib`'s `_save_container_state`).
            let auto = snake_case(&class);
            let count = counts.entry(auto.clone()).or_insert(0);
            let auto = if *count == 0 { auto } else { format!("{auto}_{count}") };
            *count += 1;
            let keras_group = format!("{prefix}layers/{auto}");
            let top_name = top.unwrap_or(&lname);
            if is_model(&class) {
                let feed = inputs.first().cloned();
                let out = self.model(layer, Some(top_name), &format!("{keras_group}/"), feed.as_deref())?;
                self.alias.insert(id.clone(), out);
            } else if class == "InputLayer" && fed_by.is_some() {
                // A nested model's input is whatever feeds the nested model.
                self.alias.insert(id.clone(), fed_by.map(str::to_string).unwrap_or_default());
            } else {
                self.layers.push(Layer {
                    class,
                    name: lname.clone(),
                    config: layer_config,
                    id: id.clone(),
                    inputs,
                    model: name.clone(),
                    h5_group: format!("model_weights/{top_name}/{lname}"),
                    keras_group,
                });
            }
            previous = Some(self.resolve(&id));
            last = Some(id);
        }
        if sequential {
            return last.ok_or_else(|| Error::new(format!("model `{name}` has no layers")));
        }
        let outputs = tensor_names(config.get("output_layers").unwrap_or(&Value::Null));
        match outputs.as_slice() {
            [one] => Ok(format!("{scope}/{one}")),
            [] => Err(Error::new(format!("model `{name}` names no output layer"))),
            many => Err(Error::new(format!(
                "model `{name}` has {} outputs ({}); MobileNetV2 has one",
                many.len(),
                many.join(", ")
            ))),
        }
    }
}

/// The names of the layers feeding `layer` (its first call; a layer called twice is shared,
/// which MobileNetV2 never does).
fn inbound(layer: &Value, name: &str) -> Result<Vec<String>, Error> {
    let nodes = layer.get("inbound_nodes").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    match nodes {
        [] => Ok(Vec::new()),
        [node] => {
            // Keras 3: {"args": [...tensors...], "kwargs": {...}}; Keras 2: [[name, 0, 0, {}], ...].
            let mut out = Vec::new();
            match node.get("args") {
                Some(args) => keras_history(args, &mut out),
                None => out = tensor_names(node),
            }
            Ok(out)
        }
        _ => Err(Error::new(format!(
            "layer `{name}` is called {} times (a shared layer); MobileNetV2 calls each layer once",
            nodes.len()
        ))),
    }
}

/// Collect the producing layer of every Keras 3 tensor reference (`keras_history`) in `v`.
fn keras_history(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(name) = map.get("keras_history").and_then(|h| h.get(0)).and_then(Value::as_str) {
                out.push(name.to_string());
            } else {
                map.values().for_each(|x| keras_history(x, out));
            }
        }
        Value::Array(items) => items.iter().for_each(|x| keras_history(x, out)),
        _ => {}
    }
}

/// Layer names from `[name, node, tensor]` or a list of them (`output_layers`, Keras 2 nodes).
fn tensor_names(v: &Value) -> Vec<String> {
    match v.as_array().map(Vec::as_slice) {
        Some([Value::String(name), ..]) => vec![name.clone()],
        Some(items) => items.iter().filter_map(|t| t.get(0).and_then(Value::as_str)).map(str::to_string).collect(),
        None => Vec::new(),
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Keras's `naming.to_snake_case`: drop non-word characters, `_` before a capital that starts a
/// lower-case word and between a lower-case letter and a capital, then lower-case
/// (`DepthwiseConv2D` -> `depthwise_conv2d`, `ReLU` -> `re_lu`). Keras's first regex consumes
/// the character before each word, so it skips a word right after another; the second rule puts
/// `_` there anyway, so one pass over both rules gives the same result.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().filter(|c| c.is_alphanumeric() || *c == '_').collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let starts_word =
            prev.is_some() && c.is_ascii_uppercase() && chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
        let after_lower = prev.is_some_and(|p| p.is_ascii_lowercase()) && c.is_ascii_uppercase();
        if starts_word || after_lower {
            out.push('_');
        }
        out.push(c);
    }
    out.to_lowercase()
}

/// "Layer X does not fit MobileNetV2", and why.
pub fn unfit(l: &Layer, what: String) -> Error {
    Error::new(format!("layer `{}` ({}) does not fit MobileNetV2: {what}", l.name, l.class))
}

/// A layer's config entries, read leniently (absent means Keras's default) and reported
/// against the layer.
pub struct Cfg<'a>(pub &'a Layer);

impl Cfg<'_> {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.config.get(key).filter(|v| !v.is_null())
    }

    pub fn fail(&self, key: &str, want: &str) -> Error {
        let found = self.get(key).map_or_else(|| "missing".to_string(), Value::to_string);
        unfit(self.0, format!("`{key}` is {found}; MobileNetV2 has {want}"))
    }

    /// A value given as `n` or `[a, b]`, as (a, b); `default` when absent.
    pub fn pair(&self, key: &str, default: u64) -> Result<(u64, u64), Error> {
        let Some(v) = self.get(key) else { return Ok((default, default)) };
        if let Some(n) = v.as_u64() {
            return Ok((n, n));
        }
        match v.as_array().map(|a| a.iter().map(Value::as_u64).collect::<Vec<_>>()).as_deref() {
            Some([Some(a), Some(b)]) => Ok((*a, *b)),
            _ => Err(self.fail(key, "two whole numbers")),
        }
    }

    pub fn expect_pair(&self, key: &str, default: u64, want: u64) -> Result<(), Error> {
        if self.pair(key, default)? != (want, want) {
            return Err(self.fail(key, &format!("[{want}, {want}]")));
        }
        Ok(())
    }

    pub fn expect_str(&self, key: &str, allowed: &[&str]) -> Result<(), Error> {
        match self.get(key) {
            None => Ok(()),
            Some(v) if v.as_str().is_some_and(|s| allowed.contains(&s)) => Ok(()),
            Some(_) => {
                Err(self.fail(key, &allowed.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(" or ")))
            }
        }
    }

    pub fn expect_bool(&self, key: &str, want: bool) -> Result<(), Error> {
        match self.get(key) {
            None => Ok(()),
            Some(v) if v.as_bool() == Some(want) => Ok(()),
            Some(_) => Err(self.fail(key, &want.to_string())),
        }
    }

    pub fn number(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    /// A count in 1..=max (the spec's bounds, so the network stays compilable).
    pub fn count(&self, key: &str, max: u64) -> Result<usize, Error> {
        self.get(key)
            .and_then(Value::as_u64)
            .filter(|&v| (1..=max).contains(&v))
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| self.fail(key, &format!("a whole number from 1 to {max}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_matches_keras() {
        for (class, want) in [
            ("Conv2D", "conv2d"),
            ("DepthwiseConv2D", "depthwise_conv2d"),
            ("BatchNormalization", "batch_normalization"),
            ("ReLU", "re_lu"),
            ("ZeroPadding2D", "zero_padding2d"),
            ("GlobalAveragePooling2D", "global_average_pooling2d"),
            ("InputLayer", "input_layer"),
            ("Functional", "functional"),
            ("Dense", "dense"),
            ("Add", "add"),
            ("Dropout", "dropout"),
            ("AbCdEf", "ab_cd_ef"),
            ("ABcDe", "a_bc_de"),
            ("aBcDeF", "a_bc_de_f"),
            ("My_Layer", "my__layer"),
            ("HTTPServer2", "http_server2"),
        ] {
            assert_eq!(snake_case(class), want, "{class}");
        }
    }

    #[test]
    fn nested_models_are_flattened_and_inputs_resolved() {
        let json = r#"{"class_name": "Functional", "config": {"name": "outer",
          "layers": [
            {"class_name": "InputLayer", "name": "in", "config": {"batch_shape": [null, 8, 8, 3]}, "inbound_nodes": []},
            {"class_name": "Functional", "name": "base", "config": {"name": "base",
              "layers": [
                {"class_name": "InputLayer", "name": "in0", "config": {}, "inbound_nodes": []},
                {"class_name": "Conv2D", "name": "c", "config": {},
                 "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["in0", 0, 0]}}], "kwargs": {}}]}
              ],
              "input_layers": [["in0", 0, 0]], "output_layers": [["c", 0, 0]]},
             "inbound_nodes": [[["in", 0, 0, {}]]]},
            {"class_name": "Dense", "name": "d", "config": {}, "inbound_nodes": [[["base", 0, 0, {}]]]}
          ],
          "input_layers": [["in", 0, 0]], "output_layers": ["d", 0, 0]}}"#;
        let flat = flatten(json).unwrap();
        let names: Vec<&str> = flat.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["in", "c", "d"]);
        assert_eq!(flat.layers[1].inputs, ["0/in"]);
        assert_eq!(flat.layers[2].inputs, ["1/c"]);
        assert_eq!(flat.output, "0/d");
        assert_eq!(flat.layers[1].h5_group, "model_weights/base/c");
        assert_eq!(flat.layers[1].keras_group, "layers/functional/layers/conv2d");
        assert_eq!(flat.layers[2].keras_group, "layers/dense");
        assert_eq!(flat.layers[1].model, "base");
    }

    #[test]
    fn malformed_configs_are_errors() {
        for json in
            ["", "[]", "{}", r#"{"config": {"layers": 3}}"#, r#"{"config": {"layers": [{"class_name": "Dense"}]}}"#]
        {
            assert!(flatten(json).is_err(), "{json}");
        }
    }
}
