//! Unix-domain stream sockets.
