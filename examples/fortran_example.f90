! cairn from Fortran, through iso_c_binding and the C API (cairn/cairn.h).
!
! A 2-D field u(ncols, nrows) decomposed by rows over the ranks, plus a step counter. Saves three
! steps with a manager, reopens the directory as a restarted job would, restores the latest step
! into zeroed arrays and checks every value, then checks that a restore into a target of the wrong
! shape fails with INVALID_ARGUMENT and a message naming the key path.
!
!   mpiexec -n 4 fortran_example DIRECTORY
!
! Fortran arrays are column-major: u(ncols, nrows) holds, in memory, the C-order array
! [nrows, ncols], so the global shape given to cairn is (rows, cols) and this rank's piece starts
! at (row0, 0). Prints one line and exits non-zero on every rank if anything failed.

! The C API's declarations for Fortran (a user copies this module).
module cairn_c
  use iso_c_binding
  implicit none
  integer(c_int), parameter :: CAIRN_OK = 0, CAIRN_INVALID_ARGUMENT = 3
  integer(c_int), parameter :: CAIRN_FLOAT64 = 12
  type, bind(c) :: cairn_manager_options
    integer(c_int) :: max_to_keep, save_interval_steps, enable_async, use_compression
    integer(c_int) :: timeout_secs, primary_host, create
    type(c_ptr) :: backend
  end type
  interface
    subroutine cairn_manager_options_init(opts) bind(c)
      import :: cairn_manager_options
      type(cairn_manager_options), intent(out) :: opts
    end subroutine
    integer(c_int) function cairn_manager_open_f(comm, directory, opts, mgr) bind(c)
      import :: c_int, c_char, c_ptr, cairn_manager_options
      integer(c_int), value :: comm
      character(kind=c_char), intent(in) :: directory(*)
      type(cairn_manager_options), intent(in) :: opts
      type(c_ptr), intent(out) :: mgr
    end function
    integer(c_int) function cairn_tree_create(tree) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), intent(out) :: tree
    end function
    integer(c_int) function cairn_tree_add_array(tree, key_path, dtype, ndim, global_shape, &
                                                 npieces, origins, shapes, data) bind(c)
      import :: c_int, c_char, c_ptr, c_int64_t
      type(c_ptr), value :: tree
      character(kind=c_char), intent(in) :: key_path(*)
      integer(c_int), value :: dtype, ndim, npieces
      integer(c_int64_t), intent(in) :: global_shape(*), origins(*), shapes(*)
      type(c_ptr), intent(in) :: data(*)
    end function
    integer(c_int) function cairn_tree_add_scalar_int64(tree, key_path, value) bind(c)
      import :: c_int, c_char, c_ptr, c_int64_t
      type(c_ptr), value :: tree
      character(kind=c_char), intent(in) :: key_path(*)
      integer(c_int64_t), intent(inout) :: value
    end function
    subroutine cairn_tree_free(tree) bind(c)
      import :: c_ptr
      type(c_ptr), value :: tree
    end subroutine
    integer(c_int) function cairn_manager_save(mgr, step, tree, force, saved) bind(c)
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: mgr, tree
      integer(c_int64_t), value :: step
      integer(c_int), value :: force
      integer(c_int), intent(out) :: saved
    end function
    integer(c_int) function cairn_manager_restore(mgr, step, tree) bind(c)
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: mgr, tree
      integer(c_int64_t), value :: step
    end function
    integer(c_int) function cairn_manager_latest_step(mgr, step, found) bind(c)
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: mgr
      integer(c_int64_t), intent(out) :: step
      integer(c_int), intent(out) :: found
    end function
    integer(c_int) function cairn_manager_wait(mgr) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: mgr
    end function
    integer(c_int) function cairn_manager_close(mgr) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: mgr
    end function
    type(c_ptr) function cairn_last_error() bind(c)
      import :: c_ptr
    end function
  end interface
contains
  ! The calling thread's last error message, as a Fortran string.
  function last_error() result(msg)
    character(len=:), allocatable :: msg
    character(kind=c_char), pointer :: chars(:)
    type(c_ptr) :: p
    integer :: n
    p = cairn_last_error()
    if (.not. c_associated(p)) then
      msg = ''
      return
    end if
    call c_f_pointer(p, chars, [4096])
    n = 0
    do while (n < 4096)
      if (chars(n + 1) == c_null_char) exit
      n = n + 1
    end do
    allocate(character(len=n) :: msg)
    msg = transfer(chars(1:n), msg)
  end function
end module

program fortran_example
  use mpi
  use iso_c_binding
  use cairn_c
  implicit none
  integer, parameter :: rows = 10, cols = 6, nsteps = 3
  integer :: ierr, provided, rank, nranks, failures, i, j
  integer(c_int) :: code, saved, found
  integer(c_int64_t) :: row0, nrows, step, latest, counter
  integer(c_int64_t) :: global(2), origin(2), shape(2), bad_global(2)
  real(c_double), allocatable, target :: u(:, :)
  type(c_ptr) :: mgr, tree, data(1)
  type(cairn_manager_options) :: opts
  character(len=4096) :: dir

  call MPI_Init_thread(MPI_THREAD_MULTIPLE, provided, ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  failures = 0
  if (command_argument_count() < 1) then
    if (rank == 0) print '(a)', 'usage: fortran_example DIRECTORY'
    call MPI_Abort(MPI_COMM_WORLD, 2, ierr)
  end if
  call get_command_argument(1, dir)

  ! Rows [row0, row0 + nrows) of this rank.
  nrows = rows / nranks
  if (rank < mod(rows, nranks)) nrows = nrows + 1
  row0 = rank * (rows / nranks) + min(rank, mod(rows, nranks))
  allocate(u(cols, max(nrows, 1_c_int64_t)))
  global = [int(rows, c_int64_t), int(cols, c_int64_t)]
  origin = [row0, 0_c_int64_t]
  shape = [nrows, int(cols, c_int64_t)]
  data(1) = c_loc(u)

  call cairn_manager_options_init(opts)
  opts%max_to_keep = 2
  call check(cairn_manager_open_f(MPI_COMM_WORLD, trim(dir)//'/ckpt'//c_null_char, opts, mgr), &
             'open')
  do step = 1, nsteps
    do i = 1, int(nrows)
      do j = 1, cols
        u(j, i) = value_of(step, row0 + i - 1, j - 1)
      end do
    end do
    counter = step
    call check(cairn_tree_create(tree), 'tree_create')
    call check(cairn_tree_add_array(tree, 'fields/u'//c_null_char, CAIRN_FLOAT64, 2_c_int, &
                                    global, 1_c_int, origin, shape, data), 'add_array')
    call check(cairn_tree_add_scalar_int64(tree, 'step'//c_null_char, counter), 'add_scalar')
    call check(cairn_manager_save(mgr, step, tree, 0_c_int, saved), 'save')
    if (saved /= 1) call fail('step not saved')
    call cairn_tree_free(tree)
  end do
  call check(cairn_manager_wait(mgr), 'wait')
  call check(cairn_manager_close(mgr), 'close')

  ! A restarted job: reopen, find the latest step, restore it into zeroed arrays.
  call check(cairn_manager_open_f(MPI_COMM_WORLD, trim(dir)//'/ckpt'//c_null_char, opts, mgr), &
             'reopen')
  call check(cairn_manager_latest_step(mgr, latest, found), 'latest_step')
  if (found /= 1 .or. latest /= nsteps) call fail('latest step is not the last saved')
  u = 0
  counter = -1
  call check(cairn_tree_create(tree), 'tree_create')
  call check(cairn_tree_add_array(tree, 'fields/u'//c_null_char, CAIRN_FLOAT64, 2_c_int, &
                                  global, 1_c_int, origin, shape, data), 'add_array')
  call check(cairn_tree_add_scalar_int64(tree, 'step'//c_null_char, counter), 'add_scalar')
  call check(cairn_manager_restore(mgr, latest, tree), 'restore')
  call cairn_tree_free(tree)
  if (counter /= nsteps) call fail('restored step counter is wrong')
  do i = 1, int(nrows)
    do j = 1, cols
      ! Bit for bit: compare the 64-bit patterns.
      if (transfer(u(j, i), 0_c_int64_t) /= &
          transfer(value_of(latest, row0 + i - 1, j - 1), 0_c_int64_t)) then
        call fail('restored value differs')
        exit
      end if
    end do
  end do

  ! A target of the wrong global shape: INVALID_ARGUMENT naming the key path, on every rank.
  bad_global = [int(rows + 1, c_int64_t), int(cols, c_int64_t)]
  call check(cairn_tree_create(tree), 'tree_create')
  call check(cairn_tree_add_array(tree, 'fields/u'//c_null_char, CAIRN_FLOAT64, 2_c_int, &
                                  bad_global, 1_c_int, origin, shape, data), 'add_array')
  code = cairn_manager_restore(mgr, latest, tree)
  call cairn_tree_free(tree)
  if (code /= CAIRN_INVALID_ARGUMENT) call fail('wrong shape was not INVALID_ARGUMENT')
  if (index(last_error(), 'fields.u') == 0) call fail('error does not name fields.u: '//last_error())
  call check(cairn_manager_close(mgr), 'close')

  call MPI_Allreduce(MPI_IN_PLACE, failures, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    if (failures == 0) then
      print '(a,i0,a)', 'fortran_example: saved, restarted and restored bit-exactly on ', nranks, &
                        ' ranks'
    else
      print '(a,i0,a)', 'fortran_example: ', failures, ' failures'
    end if
  end if
  call MPI_Finalize(ierr)
  if (failures /= 0) stop 1

contains
  pure real(c_double) function value_of(s, i, j)
    integer(c_int64_t), intent(in) :: s, i
    integer, intent(in) :: j
    value_of = real(s, c_double) * 1000.0d0 + real(i * cols + j, c_double) + 0.5d0
  end function

  subroutine check(c, what)
    integer(c_int), intent(in) :: c
    character(len=*), intent(in) :: what
    if (c == CAIRN_OK) return
    print '(a,i0,a,a,a,i0,a,a)', 'rank ', rank, ': ', what, ' failed (', c, '): ', last_error()
    failures = failures + 1
  end subroutine

  subroutine fail(what)
    character(len=*), intent(in) :: what
    print '(a,i0,a,a)', 'rank ', rank, ': ', what
    failures = failures + 1
  end subroutine
end program
