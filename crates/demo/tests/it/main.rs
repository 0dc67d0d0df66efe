//! The whole loop end to end (issue: controller and the closed loop).

mod e2e;
