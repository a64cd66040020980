//! Capabilities × requirements → placement, with a reason for every rejected target.
