//! A string interner so that many subscriptions share one allocation per distinct
//! call-back URL and subscriber principal.

use std::collections::HashSet;
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct Interner {
    set: HashSet<Arc<str>>,
}

impl Interner {
    /// The shared copy of `s`.
    pub(crate) fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.set.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.set.insert(a.clone());
        a
    }

    /// Drops the interner's copy when `s` is its last user besides the interner.
    /// The interned copy of `s`, if any.
    pub(crate) fn get(&self, s: &str) -> Option<&Arc<str>> {
        self.set.get(s)
    }

    pub(crate) fn release(&mut self, s: Arc<str>) {
        if Arc::strong_count(&s) == 2 {
            self.set.remove(&*s);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_releases() {
        let mut i = Interner::default();
        let a = i.intern("http://h/instmsg/aliases/a");
        let b = i.intern("http://h/instmsg/aliases/a");
        assert!(Arc::ptr_eq(&a, &b));
        i.release(a);
        assert_eq!(i.len(), 1);
        i.release(b);
        assert_eq!(i.len(), 0);
    }
}
