{
  "targets": [
    {
      "target_name": "gradloom_native",
      "sources": [
        "gradloom_native.c",
        "src/gemm_scalar.c",
        "src/gemm_avx2.c",
        "src/gemm_avx512.c",
        "src/gemm_zero_skip.c",
        "src/elementwise.c",
        "src/random.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O3", "-ffp-contract=off", "-fno-fast-math", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-O3", "-ffp-contract=off", "-fno-fast-math"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "AdditionalOptions": ["/fp:precise"] }
      }
    }
  ]
}
