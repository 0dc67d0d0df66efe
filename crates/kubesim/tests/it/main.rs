//! Integration tests of kubesim: the real kubectl, kube-rs, raw HTTP and concurrency.
