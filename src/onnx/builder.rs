//! A small graph builder over the proto types: named values, initializers, nodes, and the few
//! composite operations the exporters need.

use std::collections::HashSet;

use prost::Message;

use super::proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto, attribute_type, data_type, dimension,
};

/// The opset and IR version written (opset 17 is the first with `LayerNormalization`).
pub const OPSET: i64 = 17;
/// IR version matching opset 17.
pub const IR_VERSION: i64 = 8;

/// A dimension of a graph input or output.
#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A symbolic size (the batch).
    Named(String),
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// One integer.
    Int(i64),
    /// Integers.
    Ints(Vec<i64>),
    /// One float.
    Float(f32),
}

/// Builds one graph.
#[derive(Debug, Default)]
pub struct Graph {
    proto: GraphProto,
    names: HashSet<String>,
    counter: usize,
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(v) => dimension::Value::DimValue(*v),
                Dim::Named(s) => dimension::Value::DimParam(s.clone()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor { elem_type: data_type::FLOAT, shape: Some(TensorShapeProto { dim }) }),
        }),
        doc_string: String::new(),
    }
}

impl Graph {
    /// An empty graph.
    pub fn new(name: &str) -> Graph {
        Graph { proto: GraphProto { name: name.to_owned(), ..Default::default() }, ..Default::default() }
    }

    /// A unique value name starting with `hint`.
    fn fresh(&mut self, hint: &str) -> String {
        loop {
            self.counter += 1;
            let name = format!("{hint}_{}", self.counter);
            if self.names.insert(name.clone()) {
                return name;
            }
        }
    }

    /// Declares a float input.
    pub fn input(&mut self, name: &str, dims: &[Dim]) -> String {
        self.names.insert(name.to_owned());
        self.proto.input.push(value_info(name, dims));
        name.to_owned()
    }

    /// Declares an existing value (a node output) as a float graph output.
    pub fn output(&mut self, name: &str, dims: &[Dim]) {
        self.proto.output.push(value_info(name, dims));
    }

    /// Adds a float initializer (stored as raw little-endian bytes).
    pub fn weight(&mut self, hint: &str, dims: &[i64], data: &[f32]) -> String {
        let name = self.fresh(hint);
        self.push_float(name, dims, data)
    }

    /// Stores a float initializer under a name already reserved.
    fn push_float(&mut self, name: String, dims: &[i64], data: &[f32]) -> String {
        self.proto.initializer.push(TensorProto {
            dims: dims.to_vec(),
            data_type: data_type::FLOAT,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            name: name.clone(),
            ..Default::default()
        });
        name
    }

    /// Adds an int64 initializer (shapes, axes).
    pub fn ints(&mut self, hint: &str, data: &[i64]) -> String {
        let name = self.fresh(hint);
        self.proto.initializer.push(TensorProto {
            dims: vec![data.len() as i64],
            data_type: data_type::INT64,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            name: name.clone(),
            ..Default::default()
        });
        name
    }

    /// Adds a float initializer named exactly `name` (a trained parameter's module path, so a
    /// reader can map it back, see `training::onnx_import`), or `name` with a counter if taken.
    pub fn param(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        if !self.names.insert(name.to_owned()) {
            return self.weight(name, dims, data);
        }
        self.push_float(name.to_owned(), dims, data)
    }

    /// A scalar float initializer.
    pub fn scalar(&mut self, hint: &str, v: f32) -> String {
        self.weight(hint, &[], &[v])
    }

    /// Adds a node with one output; `output` names it (else a fresh name). Returns the output.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)], output: Option<&str>) -> String {
        let out = match output {
            Some(n) => {
                self.names.insert(n.to_owned());
                n.to_owned()
            }
            None => self.fresh(&op.to_ascii_lowercase()),
        };
        let attribute = attrs
            .iter()
            .map(|(name, a)| {
                let mut p = AttributeProto { name: (*name).to_owned(), ..Default::default() };
                match a {
                    Attr::Int(v) => {
                        p.i = *v;
                        p.r#type = attribute_type::INT;
                    }
                    Attr::Ints(v) => {
                        p.ints = v.clone();
                        p.r#type = attribute_type::INTS;
                    }
                    Attr::Float(v) => {
                        p.f = *v;
                        p.r#type = attribute_type::FLOAT;
                    }
                }
                p
            })
            .collect();
        let name = format!("n{}_{op}", self.proto.node.len());
        self.proto.node.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: vec![out.clone()],
            name,
            op_type: op.to_owned(),
            attribute,
            ..Default::default()
        });
        out
    }

    /// Adds a node with `count` outputs (fresh names). Returns the outputs.
    pub fn node_multi(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)], count: usize) -> Vec<String> {
        let first = self.node(op, inputs, attrs, None);
        let mut outs = vec![first];
        for _ in 1..count {
            outs.push(self.fresh(&op.to_ascii_lowercase()));
        }
        if let Some(n) = self.proto.node.last_mut() {
            n.output = outs.clone();
        }
        outs
    }

    /// 2D convolution, NCHW, weight `[out, in/groups, kh, kw]`; its initializers are
    /// `{name}.weight` and `{name}.bias`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        x: &str,
        name: &str,
        weight: &[f32],
        bias: &[f32],
        shape: [i64; 4],
        stride: i64,
        pad: i64,
        groups: i64,
    ) -> String {
        let w = self.param(&format!("{name}.weight"), &shape, weight);
        let b = self.param(&format!("{name}.bias"), &[shape[0]], bias);
        self.node(
            "Conv",
            &[x, &w, &b],
            &[
                ("kernel_shape", Attr::Ints(vec![shape[2], shape[3]])),
                ("strides", Attr::Ints(vec![stride, stride])),
                ("pads", Attr::Ints(vec![pad, pad, pad, pad])),
                ("group", Attr::Int(groups)),
            ],
            None,
        )
    }

    /// LayerNormalization over the last axis; its initializers are `{name}.gamma` and
    /// `{name}.beta`.
    pub fn layer_norm_last(&mut self, x: &str, name: &str, gamma: &[f32], beta: &[f32], eps: f32) -> String {
        let n = gamma.len() as i64;
        let g = self.param(&format!("{name}.gamma"), &[n], gamma);
        let b = self.param(&format!("{name}.beta"), &[n], beta);
        self.node("LayerNormalization", &[x, &g, &b], &[("axis", Attr::Int(-1)), ("epsilon", Attr::Float(eps))], None)
    }

    /// LayerNormalization over the channels of an NCHW tensor (transpose, normalise, back).
    pub fn layer_norm_channels(&mut self, x: &str, name: &str, gamma: &[f32], beta: &[f32], eps: f32) -> String {
        let nhwc = self.node("Transpose", &[x], &[("perm", Attr::Ints(vec![0, 2, 3, 1]))], None);
        let y = self.layer_norm_last(&nhwc, name, gamma, beta, eps);
        self.node("Transpose", &[&y], &[("perm", Attr::Ints(vec![0, 3, 1, 2]))], None)
    }

    /// Exact GELU in its Erf form: `x * 0.5 * (1 + erf(x / sqrt 2))`, written exactly as ONNX
    /// Runtime's GeluFusion expects (a `Div` by sqrt 2, not a `Mul` by its inverse), so ORT runs
    /// one Gelu kernel, or BiasGelu with the preceding bias, instead of five elementwise ones.
    pub fn gelu(&mut self, x: &str) -> String {
        let sqrt2 = self.scalar("sqrt2", std::f32::consts::SQRT_2);
        let one = self.scalar("one", 1.0);
        let half = self.scalar("half", 0.5);
        let scaled = self.node("Div", &[x, &sqrt2], &[], None);
        let erf = self.node("Erf", &[&scaled], &[], None);
        let plus = self.node("Add", &[&erf, &one], &[], None);
        let xh = self.node("Mul", &[x, &half], &[], None);
        self.node("Mul", &[&xh, &plus], &[], None)
    }

    /// `x @ W + b` over the last axis with `W` stored `[in, out]`; its initializers are
    /// `{name}.weight` and `{name}.bias`.
    pub fn linear(&mut self, x: &str, name: &str, weight: &[f32], bias: &[f32], d_in: i64, d_out: i64) -> String {
        let w = self.param(&format!("{name}.weight"), &[d_in, d_out], weight);
        let b = self.param(&format!("{name}.bias"), &[d_out], bias);
        let m = self.node("MatMul", &[x, &w], &[], None);
        self.node("Add", &[&m, &b], &[], None)
    }

    /// Wraps the graph into a model with metadata properties.
    pub fn into_model(self, metadata: &[(String, String)]) -> ModelProto {
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
            producer_name: "mousexray".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(self.proto),
            metadata_props: metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto { key: k.clone(), value: v.clone() })
                .collect(),
            ..Default::default()
        }
    }
}

/// Serialises a model to bytes.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}
