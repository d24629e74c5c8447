//! Every model the end-to-end tests compile, each once: the tests share them. (The `classify`
//! tests use the quickstart lib's photo model.)

mobilenet_runtime::mobilenet!("../models/v2.yaml");
mobilenet_runtime::mobilenet!("../models/v2_0.35_96_c10.yaml");
mobilenet_runtime::mobilenet!("specs/odd_nonsquare.yaml");
mobilenet_runtime::mobilenet!("specs/width14_nonsquare.yaml");
mobilenet_runtime::mobilenet!("../models/keras/v2_0.5_128_c10/model.yaml");
mobilenet_runtime::mobilenet!("../models/keras/finetune_0.35_96_c5/model.yaml");
mobilenet_runtime::mobilenet!("../models/v2_0.35_96_c10_memory.yaml");
mobilenet_runtime::mobilenet!("specs/tf_rgb8.yaml");
mobilenet_runtime::mobilenet!("specs/tf_rgb8_memory.yaml");
mobilenet_runtime::mobilenet!("../models/digits/model.yaml");
mobilenet_runtime::mobilenet!("../models/digits/int8.yaml");
mobilenet_runtime::mobilenet!("specs/tf_rgb8_int8.yaml");
