//! Packet wire formats, smoltcp style: zero-copy views over bytes (`Packet<T>`)
//! apart from typed representations (`Repr`).
