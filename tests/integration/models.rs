//! The models committed under models/: each loads in ONNX Runtime under the model contract, has
//! its JSON report, stays under 20 MB, and classifies the bundled sample.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use mousexray::inference::{Classifier, DEFAULT_MODELS, init_runtime};

#[test]
fn committed_models_load_with_their_metadata_and_report() {
    let lib = init_runtime(None).unwrap();
    let mut found = 0;
    for entry in std::fs::read_dir("models").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "onnx") {
            continue;
        }
        found += 1;
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size < 20 * 1024 * 1024, "{}: {size} bytes", path.display());
        let mut model = Classifier::load(&path, lib, Default::default()).unwrap();
        assert_eq!(model.info.metadata.taxonomy.nodes.len(), 14);
        assert!(model.info.has_cam, "{}: no CAM outputs", path.display());
        let domain =
            model.info.metadata.domain.as_ref().unwrap_or_else(|| panic!("{}: no domain description", path.display()));
        assert_eq!(domain.views.len(), model.info.views().len(), "{}", path.display());
        let blocks = if model.info.metadata.provenance.backbone == "convnext" { vec![32, 256] } else { vec![128] };
        assert_eq!(model.info.metadata.features, blocks, "{}", path.display());
        let views = model.info.views();
        assert!(!views.is_empty());
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).unwrap()).unwrap();
        let history = report["provenance"]["training"]["history"].as_array().unwrap();
        assert!(!history.is_empty(), "{}: trained for at least one epoch", path.display());
        assert_eq!(report["thresholds"].as_object().unwrap().len(), 14);
        // It runs: probabilities in 0..=1 for a blank pair of inputs.
        let s = model.info.metadata.preprocess.size as usize;
        let bg = model.info.metadata.preprocess.background();
        let p =
            model.predict(&vec![bg; s * s], &vec![bg; s * s], &[mousexray::specimen::ByView::new(true, true)]).unwrap();
        assert!(p[0].iter().all(|x| (0.0..=1.0).contains(x)), "{p:?}");
    }
    assert!(found > 0, "no model under models/");
    assert!(
        DEFAULT_MODELS.iter().any(|m| Path::new("models").join(m).is_file()),
        "none of the default models {DEFAULT_MODELS:?} is bundled"
    );
}
