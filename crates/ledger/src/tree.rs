//! RFC 6962 Merkle trees (pure): the compact [`Frontier`], the full in-memory [`Tree`], proofs
//! (RFC 6962 §2.1.1 audit paths, §2.1.2 consistency proofs) and their verifiers (RFC 9162
//! §2.1.3.2 and §2.1.4.2).
//!
//! Proofs are computed from a [`NodeSource`]: anything that can give the hash of a *perfect*
//! subtree (`2^level` leaves starting at `index * 2^level`). Every subtree hash RFC 6962's
//! recursion needs is either such a node or the right edge of a tree, which folds from at most
//! `log2(n)` of them, so a proof costs `O(log² n)` node look-ups and never needs every leaf.
//! [`Tree`] keeps every level in memory; a store could serve the same nodes from disk.

use crate::{Hash, hash_children};

/// SHA-256 of the empty string: the Merkle tree hash of an empty tree.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41,
    0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The largest power of two strictly smaller than `n` (`n >= 2`): RFC 6962's split point `k`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// A compact Merkle tree: the roots of the perfect subtrees that make up the tree, largest
/// first (one per set bit of the size). `O(log n)` memory and append; gives the tree hash of
/// its current size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Perfect subtree roots, left to right (largest first).
    nodes: Vec<Hash>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many leaves were appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            let left = self.nodes.pop().expect("a set bit has its node");
            h = hash_children(&left, &h);
            s >>= 1;
        }
        self.nodes.push(h);
        self.size += 1;
    }

    /// The Merkle tree hash of the leaves appended so far.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(last) = it.next() else { return EMPTY_ROOT };
        it.fold(*last, |acc, left| hash_children(left, &acc))
    }
}

/// Something that knows the hashes of perfect subtrees: `node(level, index)` is the hash of
/// the `2^level` leaves starting at `index << level`. Only nodes inside the tree of the size
/// asked for are requested.
pub trait NodeSource {
    /// The perfect subtree's hash.
    fn node(&self, level: u32, index: u64) -> Hash;
}

/// The Merkle tree hash of leaves `start..end` of a tree, when `start..end` is a range RFC
/// 6962's recursion produces (`start` a multiple of the largest power of two below the
/// range's length, or the range perfect and aligned).
fn range_hash(src: &impl NodeSource, start: u64, end: u64) -> Hash {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return src.node(n.trailing_zeros(), start >> n.trailing_zeros());
    }
    let k = split(n);
    let left = range_hash(src, start, start + k);
    let right = range_hash(src, start + k, end);
    hash_children(&left, &right)
}

/// The Merkle tree hash of the first `size` leaves.
pub fn root_from(src: &impl NodeSource, size: u64) -> Hash {
    if size == 0 { EMPTY_ROOT } else { range_hash(src, 0, size) }
}

/// Errors asking for a proof of sizes the tree does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf is not in the tree of that size.
    #[error("leaf {index} is not in a tree of size {size}: the index must be below the size")]
    IndexOutOfRange {
        /// The leaf asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The tree is smaller than asked.
    #[error("the tree has {have} leaves, the proof needs {want}: wait for the entries or ask for a smaller size")]
    TooLarge {
        /// Leaves the tree has.
        have: u64,
        /// Size asked for.
        want: u64,
    },
    /// Old size larger than new size.
    #[error("a consistency proof goes from an older (smaller) size to a newer one; got {old} > {new}")]
    Backwards {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
}

/// RFC 6962 §2.1.1 audit path of leaf `index` in the tree of the first `size` leaves, deepest
/// sibling first.
pub fn inclusion_proof_from(src: &impl NodeSource, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(src, index, 0, size, &mut proof);
    Ok(proof)
}

fn path(src: &impl NodeSource, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
    let n = end - start;
    if n == 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(src, m, start, start + k, out);
        out.push(range_hash(src, start + k, end));
    } else {
        path(src, m - k, start + k, end, out);
        out.push(range_hash(src, start, start + k));
    }
}

/// RFC 6962 §2.1.2 consistency proof between the trees of the first `old` and `new` leaves
/// (empty when `old == 0` or `old == new`).
pub fn consistency_proof_from(src: &impl NodeSource, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
    if old > new {
        return Err(ProofError::Backwards { old, new });
    }
    let mut proof = Vec::new();
    if old > 0 && old < new {
        subproof(src, old, 0, new, true, &mut proof);
    }
    Ok(proof)
}

fn subproof(src: &impl NodeSource, m: u64, start: u64, end: u64, b: bool, out: &mut Vec<Hash>) {
    let n = end - start;
    if m == n {
        if !b {
            out.push(range_hash(src, start, end));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, start, start + k, b, out);
        out.push(range_hash(src, start + k, end));
    } else {
        subproof(src, m - k, start + k, end, false, out);
        out.push(range_hash(src, start, start + k));
    }
}

/// A slice of leaf hashes is a node source (each node folded from its leaves: `O(2^level)`).
struct Leaves<'a>(&'a [Hash]);

impl NodeSource for Leaves<'_> {
    fn node(&self, level: u32, index: u64) -> Hash {
        let start = (index << level) as usize;
        naive_root(&self.0[start..start + (1usize << level)])
    }
}

/// RFC 6962 Merkle tree hash of `leaves`, by the definition's recursion (the reference the
/// incremental structures are tested against).
pub fn naive_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            hash_children(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

/// Audit path of leaf `index` in the tree of the first `size` of `leaves`.
pub fn inclusion_proof(leaves: &[Hash], index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
    if size > leaves.len() as u64 {
        return Err(ProofError::TooLarge { have: leaves.len() as u64, want: size });
    }
    inclusion_proof_from(&Leaves(leaves), index, size)
}

/// Consistency proof between the trees of the first `old` and `new` of `leaves`.
pub fn consistency_proof(leaves: &[Hash], old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
    if new > leaves.len() as u64 {
        return Err(ProofError::TooLarge { have: leaves.len() as u64, want: new });
    }
    consistency_proof_from(&Leaves(leaves), old, new)
}

/// A Merkle tree with every level in memory (`2n` hashes): `O(1)` amortised append, the root of
/// any prefix and proofs in `O(log² n)`.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// `levels[l][i]`: the perfect subtree of `2^l` leaves starting at `i << l`.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of these leaves.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut t = Self::new();
        for l in leaves {
            t.push(l);
        }
        t
    }

    /// How many leaves it holds.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let n = self.levels[level].len();
            let h = hash_children(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(h);
            level += 1;
        }
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels.first()?.get(usize::try_from(index).ok()?).copied()
    }

    /// The Merkle tree hash of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        self.check(size)?;
        Ok(root_from(self, size))
    }

    /// The Merkle tree hash of every leaf.
    pub fn root(&self) -> Hash {
        root_from(self, self.size())
    }

    /// The compact form of the first `size` leaves.
    pub fn frontier(&self) -> Frontier {
        let size = self.size();
        let mut nodes = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                nodes.push(self.node(level, start >> level));
                start += 1u64 << level;
            }
        }
        Frontier { size, nodes }
    }

    /// Audit path of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check(size)?;
        inclusion_proof_from(self, index, size)
    }

    /// Consistency proof between the first `old` and the first `new` leaves.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
        self.check(new)?;
        consistency_proof_from(self, old, new)
    }

    fn check(&self, size: u64) -> Result<(), ProofError> {
        if size > self.size() {
            return Err(ProofError::TooLarge { have: self.size(), want: size });
        }
        Ok(())
    }
}

impl NodeSource for Tree {
    fn node(&self, level: u32, index: u64) -> Hash {
        self.levels[level as usize][index as usize]
    }
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Index not below size.
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("the proof has the wrong number of hashes for these sizes ({got} given)")]
    WrongLength {
        /// How many hashes it had.
        got: usize,
    },
    /// The proof leads to another root.
    #[error("the proof leads to root {computed}, not to the expected {expected}")]
    RootMismatch {
        /// Hex of the root the proof computes.
        computed: String,
        /// Hex of the expected root.
        expected: String,
    },
    /// Old size larger than new, or a non-empty proof where none is needed, or an empty tree.
    #[error("{0}")]
    BadSizes(&'static str),
}

/// RFC 9162 §2.1.3.2: checks that `proof` proves `leaf_hash` is leaf `index` of the tree of
/// size `size` whose hash is `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    let computed = root_from_inclusion(leaf_hash, index, size, proof)?;
    if &computed != root {
        return Err(VerifyError::RootMismatch { computed: hex::encode(computed), expected: hex::encode(root) });
    }
    Ok(())
}

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2 without the final comparison).
pub fn root_from_inclusion(leaf_hash: &Hash, index: u64, size: u64, proof: &[Hash]) -> Result<Hash, VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let mut fnode = index;
    let mut snode = size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if snode == 0 {
            return Err(VerifyError::WrongLength { got: proof.len() });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = hash_children(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = hash_children(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(VerifyError::WrongLength { got: proof.len() });
    }
    Ok(r)
}

/// RFC 9162 §2.1.4.2: checks that `proof` proves the tree of size `old` with hash `old_root`
/// is a prefix of the tree of size `new` with hash `new_root`. From `old == 0` only the empty
/// tree's hash and an empty proof are accepted.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), VerifyError> {
    if old > new {
        return Err(VerifyError::BadSizes("the old size is larger than the new size"));
    }
    if old == new {
        if !proof.is_empty() {
            return Err(VerifyError::WrongLength { got: proof.len() });
        }
        if old_root != new_root {
            return Err(VerifyError::RootMismatch { computed: hex::encode(old_root), expected: hex::encode(new_root) });
        }
        return Ok(());
    }
    if old == 0 {
        if !proof.is_empty() {
            return Err(VerifyError::WrongLength { got: proof.len() });
        }
        if old_root != &EMPTY_ROOT {
            return Err(VerifyError::BadSizes("a tree of size 0 has the empty tree's hash"));
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(VerifyError::WrongLength { got: 0 });
    }
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof.iter());
    let mut fnode = old - 1;
    let mut snode = new - 1;
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut fr = *path[0];
    let mut sr = *path[0];
    for c in &path[1..] {
        if snode == 0 {
            return Err(VerifyError::WrongLength { got: proof.len() });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = hash_children(c, &fr);
            sr = hash_children(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = hash_children(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(VerifyError::WrongLength { got: proof.len() });
    }
    if &fr != old_root {
        return Err(VerifyError::RootMismatch { computed: hex::encode(fr), expected: hex::encode(old_root) });
    }
    if &sr != new_root {
        return Err(VerifyError::RootMismatch { computed: hex::encode(sr), expected: hex::encode(new_root) });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash_leaf;
    use proptest::prelude::*;

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// transparency-dev/merkle testonly.LeafInputs (the RFC 6962 reference vectors of the
    /// certificate-transparency projects).
    fn vector_leaves() -> Vec<Hash> {
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
            .iter()
            .map(|s| hash_leaf(&hex::decode(s).unwrap()))
            .collect()
    }

    /// testonly.RootHashes, by size 0..=8.
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// proof/verify_test.go inclusionProofs (leaf index 0-based here; the Go table is 1-based).
    fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (0, 1, vec![]),
            (
                0,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                5,
                8,
                vec![
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (2, 3, vec![h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
            (
                1,
                5,
                vec![
                    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
        ]
    }

    /// proof/verify_test.go consistencyProofs.
    fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                6,
                8,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                5,
                vec![
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
            (
                6,
                7,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
        ]
    }

    #[test]
    fn reference_roots() {
        let leaves = vector_leaves();
        let mut f = Frontier::new();
        let mut t = Tree::new();
        assert_eq!(f.root(), h(ROOTS[0]));
        assert_eq!(t.root(), h(ROOTS[0]));
        for (i, l) in leaves.iter().enumerate() {
            f.push(*l);
            t.push(*l);
            let want = h(ROOTS[i + 1]);
            assert_eq!(f.root(), want, "frontier size {}", i + 1);
            assert_eq!(t.root(), want, "tree size {}", i + 1);
            assert_eq!(naive_root(&leaves[..=i]), want);
            assert_eq!(t.frontier(), f);
        }
        for (size, want) in ROOTS.iter().enumerate() {
            assert_eq!(t.root_at(size as u64).unwrap(), h(want));
        }
    }

    #[test]
    fn reference_inclusion_proofs() {
        let leaves = vector_leaves();
        let t = Tree::from_leaves(leaves.iter().copied());
        for (index, size, want) in inclusion_vectors() {
            assert_eq!(t.inclusion_proof(index, size).unwrap(), want, "index {index} size {size}");
            assert_eq!(inclusion_proof(&leaves, index, size).unwrap(), want);
            let root = h(ROOTS[size as usize]);
            verify_inclusion(&leaves[index as usize], index, size, &want, &root).unwrap();
            // Corruptions in the style of the reference test data: all must fail.
            let l = &leaves[index as usize];
            assert!(verify_inclusion(l, index + 1, size, &want, &root).is_err());
            if index > 0 {
                assert!(verify_inclusion(l, index - 1, size, &want, &root).is_err());
            }
            assert!(verify_inclusion(l, index, size * 2, &want, &root).is_err());
            assert!(verify_inclusion(l, index, size / 2, &want, &root).is_err());
            assert!(verify_inclusion(&hash_leaf(b"WrongLeaf"), index, size, &want, &root).is_err());
            assert!(verify_inclusion(l, index, size, &want, &EMPTY_ROOT).is_err());
            let mut longer = want.clone();
            longer.push(root);
            assert!(verify_inclusion(l, index, size, &longer, &root).is_err());
            let mut front = vec![root];
            front.extend(want.iter().copied());
            assert!(verify_inclusion(l, index, size, &front, &root).is_err());
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i][0] ^= 8;
                assert!(verify_inclusion(l, index, size, &bad, &root).is_err());
            }
            if !want.is_empty() {
                assert!(verify_inclusion(l, index, size, &want[..want.len() - 1], &root).is_err());
            }
        }
    }

    #[test]
    fn reference_consistency_proofs() {
        let leaves = vector_leaves();
        let t = Tree::from_leaves(leaves.iter().copied());
        for (old, new, want) in consistency_vectors() {
            assert_eq!(t.consistency_proof(old, new).unwrap(), want, "{old} -> {new}");
            assert_eq!(consistency_proof(&leaves, old, new).unwrap(), want);
            let (r1, r2) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
            verify_consistency(old, new, &want, &r1, &r2).unwrap();
            if want.is_empty() {
                continue;
            }
            assert!(verify_consistency(old - 1, new, &want, &r1, &r2).is_err());
            assert!(verify_consistency(old + 1, new, &want, &r1, &r2).is_err());
            assert!(verify_consistency(old, new * 2, &want, &r1, &r2).is_err());
            assert!(verify_consistency(old, new / 2, &want, &r1, &r2).is_err());
            assert!(verify_consistency(old, new, &want, &r2, &r1).is_err());
            assert!(verify_consistency(old, new, &[], &r1, &r2).is_err());
            let mut longer = want.clone();
            longer.push(r1);
            assert!(verify_consistency(old, new, &longer, &r1, &r2).is_err());
            let mut front = vec![want[0]];
            front.extend(want.iter().copied());
            assert!(verify_consistency(old, new, &front, &r1, &r2).is_err());
            assert!(verify_consistency(old, new, &want[..want.len() - 1], &r1, &r2).is_err());
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i][0] ^= 16;
                assert!(verify_consistency(old, new, &bad, &r1, &r2).is_err());
            }
        }
        // The reference's static cases.
        let (a, b) = (hash_leaf(b"don't care 1"), hash_leaf(b"don't care 2"));
        assert!(verify_consistency(0, 0, &[], &a, &b).is_err());
        assert!(verify_consistency(1, 1, &[], &a, &b).is_err());
        verify_consistency(0, 0, &[], &a, &a).unwrap();
        verify_consistency(1, 1, &[], &b, &b).unwrap();
        assert!(verify_consistency(0, 1, &[], &a, &b).is_err());
        assert!(verify_consistency(1, 0, &[], &a, &b).is_err());
        assert!(verify_consistency(2, 1, &[], &a, &b).is_err());
        assert!(verify_consistency(1, 2, &[], &a, &b).is_err());
        assert!(verify_consistency(0, 0, &[EMPTY_ROOT], &EMPTY_ROOT, &EMPTY_ROOT).is_err());
        assert!(verify_consistency(1, 1, &[EMPTY_ROOT], &EMPTY_ROOT, &EMPTY_ROOT).is_err());
        assert!(verify_consistency(0, 1, &[EMPTY_ROOT], &EMPTY_ROOT, &EMPTY_ROOT).is_err());
    }

    #[test]
    fn single_entry_and_empty_cases() {
        let l = hash_leaf(b"data");
        verify_inclusion(&l, 0, 1, &[], &l).unwrap();
        assert!(verify_inclusion(&l, 0, 0, &[], &EMPTY_ROOT).is_err());
        assert!(verify_inclusion(&l, 1, 0, &[], &EMPTY_ROOT).is_err());
        assert!(verify_inclusion(&l, 2, 1, &[], &l).is_err());
        let t = Tree::new();
        assert_eq!(t.inclusion_proof(0, 0), Err(ProofError::IndexOutOfRange { index: 0, size: 0 }));
        assert_eq!(t.root_at(1), Err(ProofError::TooLarge { have: 0, want: 1 }));
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| hash_leaf(&(i as u64).to_be_bytes())).collect()
    }

    /// RFC 6962's PATH over leaves by the definition, for the property test.
    fn naive_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        if d.len() <= 1 {
            return vec![];
        }
        let k = split(d.len() as u64) as usize;
        if m < k {
            let mut p = naive_path(m, &d[..k]);
            p.push(naive_root(&d[k..]));
            p
        } else {
            let mut p = naive_path(m - k, &d[k..]);
            p.push(naive_root(&d[..k]));
            p
        }
    }

    fn naive_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![naive_root(d)] };
        }
        let k = split(n as u64) as usize;
        if m <= k {
            let mut p = naive_subproof(m, &d[..k], b);
            p.push(naive_root(&d[k..]));
            p
        } else {
            let mut p = naive_subproof(m - k, &d[k..], false);
            p.push(naive_root(&d[..k]));
            p
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn tree_matches_naive(n in 0usize..140) {
            let ls = leaves(n);
            let t = Tree::from_leaves(ls.iter().copied());
            let mut f = Frontier::new();
            for (i, l) in ls.iter().enumerate() {
                f.push(*l);
                prop_assert_eq!(f.root(), naive_root(&ls[..=i]));
            }
            for size in 0..=n {
                prop_assert_eq!(t.root_at(size as u64).unwrap(), naive_root(&ls[..size]));
            }
        }

        #[test]
        fn inclusion_matches_naive_and_verifies(n in 1usize..140, seed in any::<u64>()) {
            let ls = leaves(n);
            let t = Tree::from_leaves(ls.iter().copied());
            let size = 1 + (seed % n as u64) as usize;
            let index = ((seed >> 20) % size as u64) as usize;
            let proof = t.inclusion_proof(index as u64, size as u64).unwrap();
            prop_assert_eq!(&proof, &naive_path(index, &ls[..size]));
            let root = naive_root(&ls[..size]);
            prop_assert!(verify_inclusion(&ls[index], index as u64, size as u64, &proof, &root).is_ok());
            let other = (index + 1) % size;
            if other != index {
                prop_assert!(verify_inclusion(&ls[other], index as u64, size as u64, &proof, &root).is_err());
                prop_assert!(verify_inclusion(&ls[index], other as u64, size as u64, &proof, &root).is_err());
            }
        }

        #[test]
        fn consistency_matches_naive_and_verifies(n in 1usize..140, seed in any::<u64>()) {
            let ls = leaves(n);
            let t = Tree::from_leaves(ls.iter().copied());
            let new = 1 + (seed % n as u64) as usize;
            let old = 1 + ((seed >> 20) % new as u64) as usize;
            let proof = t.consistency_proof(old as u64, new as u64).unwrap();
            let want = if old == new { vec![] } else { naive_subproof(old, &ls[..new], true) };
            prop_assert_eq!(&proof, &want);
            let (r1, r2) = (naive_root(&ls[..old]), naive_root(&ls[..new]));
            prop_assert!(verify_consistency(old as u64, new as u64, &proof, &r1, &r2).is_ok());
            if old < new {
                let mut forged = ls[..new].to_vec();
                forged[old - 1] = hash_leaf(b"forged");
                prop_assert!(verify_consistency(old as u64, new as u64, &proof, &naive_root(&forged[..old]), &r2).is_err());
            }
        }
    }
}
