//! An interner so that many subscriptions share one allocation per distinct call-back
//! (a typed [`CallBack`](rvp_proto::header::CallBack)) and subscriber principal (a string).

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Arc;

/// A value the interner can copy into a new [`Arc`].
pub(crate) trait Share {
    fn share(&self) -> Arc<Self>;
}

impl Share for str {
    fn share(&self) -> Arc<str> {
        Arc::from(self)
    }
}

impl Share for rvp_proto::header::CallBack {
    fn share(&self) -> Arc<Self> {
        Arc::new(self.clone())
    }
}

#[derive(Debug)]
pub(crate) struct Interner<T: ?Sized> {
    set: HashSet<Arc<T>>,
}

impl<T: ?Sized> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            set: HashSet::new(),
        }
    }
}

impl<T: ?Sized + Hash + Eq> Interner<T> {
    /// The shared copy of `value`.
    pub(crate) fn intern(&mut self, value: &T) -> Arc<T>
    where
        T: Share,
    {
        if let Some(a) = self.set.get(value) {
            return a.clone();
        }
        let a = value.share();
        self.set.insert(a.clone());
        a
    }

    /// The interned copy of `value`, if any.
    pub(crate) fn get(&self, value: &T) -> Option<&Arc<T>> {
        self.set.get(value)
    }

    /// Drops the interner's copy when `value` is its last user besides the interner.
    pub(crate) fn release(&mut self, value: Arc<T>) {
        if Arc::strong_count(&value) == 2 {
            self.set.remove(&*value);
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
        let mut i = Interner::<str>::default();
        let a = i.intern("http://h/instmsg/aliases/a");
        let b = i.intern("http://h/instmsg/aliases/a");
        assert!(Arc::ptr_eq(&a, &b));
        i.release(a);
        assert_eq!(i.len(), 1);
        i.release(b);
        assert_eq!(i.len(), 0);
    }
}
